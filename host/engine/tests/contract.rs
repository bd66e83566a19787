//! Contract versions: a runtime built against the shipped `0.1.0` contract keeps loading.
//!
//! `tests/fixtures/contract-0-1` binds a frozen copy of the `0.1.0` files with
//! `wit-bindgen` directly (no SDK), as a third party's runtime of that release was built.
//! While `wit/` declares `0.1.0` it must equal that copy: a change to the shipped
//! package needs a new version (`wit/README.md`, "Cutting a new major"). Once a new major
//! exists, `wit/deps/runtime@0.1.0` must equal it instead, and the host must still load,
//! plan and observe the fixture.

use std::path::Path;

use runplane_engine::{Limits, PluginEngine};
use runplane_model::{ObservedObject, ObservedState, RunPlan, Target};
use runplane_test_support::{CONTRACT_0_1_RUNTIME, component, context};

const FILES: [&str; 4] = ["world.wit", "runtime.wit", "types.wit", "log.wit"];

fn repository() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_shipped_0_1_0_package_is_never_edited() {
    let frozen = repository().join("tests/fixtures/contract-0-1/wit");
    let current = repository().join("wit");
    let shipped = if read(&current.join("world.wit")).contains("package runplane:runtime@0.1.0;") {
        current
    } else {
        repository().join("wit/deps/runtime@0.1.0")
    };
    for file in FILES {
        assert_eq!(
            read(&shipped.join(file)),
            read(&frozen.join(file)),
            "{} differs from the shipped 0.1.0 file {}: a change to the contract needs a new \
             version (wit/README.md, \"Cutting a new major\")",
            shipped.join(file).display(),
            frozen.join(file).display(),
        );
    }
}

#[tokio::test]
async fn a_runtime_built_against_0_1_0_loads_plans_and_observes() {
    let engine = PluginEngine::new(Limits::default(), None).expect("the engine starts");
    let runtime = engine
        .load(&component(CONTRACT_0_1_RUNTIME), "contract-0-1 fixture")
        .await
        .expect("a 0.1.0 runtime loads");
    assert_eq!(runtime.name(), "contract-zero-one");
    assert_eq!(runtime.info().sdk_version, "", "built without the SDK");

    let spec = r#"{"message":"still here"}"#;
    let kubernetes = context("frozen", "job", spec, "{}", "{}", Target::Kubernetes);
    let plan = runtime.plan(&kubernetes).await.expect("the call succeeds");
    let Ok(RunPlan::Kubernetes(objects)) = plan else {
        panic!("a ConfigMap, got {plan:?}");
    };
    assert!(objects[0].contains("still here"), "{objects:?}");

    let local = context("frozen", "job", spec, "{}", "{}", Target::Local);
    let plan = runtime.plan(&local).await.expect("the call succeeds");
    let Ok(RunPlan::Local(process)) = plan else {
        panic!("a local process, got {plan:?}");
    };
    assert_eq!(process.argv, ["echo", "still here"]);

    let refused = runtime
        .validate("test", "frozen", "{}")
        .await
        .expect("the call succeeds")
        .expect_err("a spec without message is refused");
    assert_eq!(refused[0].path, "message");

    let live = ObservedObject {
        api_version: "v1".to_string(),
        kind: "ConfigMap".to_string(),
        name: "frozen-run".to_string(),
        object: objects[0].clone(),
    };
    let status = runtime
        .observe(&kubernetes, vec![live])
        .await
        .expect("the call succeeds");
    assert_eq!(status.state, ObservedState::Completed);
}
