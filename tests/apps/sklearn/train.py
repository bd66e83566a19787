# Learns `y = x0` on a few points and saves the model at `path`: a scikit-learn model
# for the sklearnserve runtime (host/cli/tests/model_serving, tests/sdk).
import joblib
from sklearn.linear_model import LogisticRegression

def main(path):
    x = [[0, 0], [0, 1], [1, 0], [1, 1], [0, 0.5], [1, 0.5]]
    y = [0, 0, 1, 1, 0, 1]
    joblib.dump(LogisticRegression().fit(x, y), path)
    print(f'saved {path}', flush=True)
