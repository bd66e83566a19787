// Command etcd is upstream etcd (go.etcd.io/etcd/server/v3/etcdmain), built
// from the module proxy so the Runplane test control plane needs no container.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
