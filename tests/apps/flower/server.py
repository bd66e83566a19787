# The ServerApp of the federated regression (host/cli/tests/federated, tests/sdk):
# FedAvg over both SuperNodes for `num-server-rounds` rounds, the evaluation's `mse`
# averaged by the number of points.
from flwr.common import Context, ndarrays_to_parameters
from flwr.server import ServerApp, ServerAppComponents, ServerConfig
from flwr.server.strategy import FedAvg
import numpy as np


def weighted_average(metrics):
    total = sum(count for count, _ in metrics)
    return {"mse": sum(count * m["mse"] for count, m in metrics) / total}


def server_fn(context: Context):
    if context.run_config.get("fail"):
        raise ValueError("the run asked this ServerApp to fail")
    strategy = FedAvg(
        fraction_fit=1.0,
        fraction_evaluate=1.0,
        min_available_clients=2,
        initial_parameters=ndarrays_to_parameters([np.zeros(2)]),
        evaluate_metrics_aggregation_fn=weighted_average,
    )
    rounds = int(context.run_config["num-server-rounds"])
    return ServerAppComponents(strategy=strategy, config=ServerConfig(num_rounds=rounds))


app = ServerApp(server_fn=server_fn)
