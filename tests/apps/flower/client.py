# The ClientApp of the federated regression (host/cli/tests/federated, tests/sdk):
# gradient descent on this SuperNode's partition.
from flwr.client import ClientApp, NumPyClient
from flwr.common import Context
import numpy as np


class Regression(NumPyClient):
    def __init__(self, x, y, rate):
        self.x, self.y, self.rate = x, y, rate

    def fit(self, parameters, config):
        a, b = parameters[0]
        for _ in range(20):
            error = a * self.x + b - self.y
            a -= self.rate * 2 * np.mean(error * self.x)
            b -= self.rate * 2 * np.mean(error)
        return [np.array([a, b])], len(self.x), {}

    def evaluate(self, parameters, config):
        a, b = parameters[0]
        mse = float(np.mean((a * self.x + b - self.y) ** 2))
        return mse, len(self.x), {"mse": mse}


def client_fn(context: Context):
    rng = np.random.default_rng(int(context.node_config["partition-id"]))
    x = rng.uniform(-1, 1, 50)
    y = 3.0 * x + 0.5 + rng.normal(0, 0.05, 50)
    return Regression(x, y, float(context.run_config["learning-rate"])).to_client()


app = ClientApp(client_fn=client_fn)
