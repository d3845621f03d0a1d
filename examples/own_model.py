"""Which update rule trains *your* model best? Your model, your NumPy data, one search: python examples/own_model.py"""
import argparse
import keras
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

import keras_nos

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--budget", type=int, default=40, help="rules to train")
parser.add_argument("--funnel-top-k", type=int, default=2, help="best rules trained again beside tuned Adam")
parser.add_argument("--tracking-uri", default=None, help="MLflow store (default: ./mlruns)")
args = parser.parse_args()

x, y = load_breast_cancer(return_X_y=True)  # 569 tumours, 30 features, benign or malignant
x = ((x - x.mean(0)) / x.std(0)).astype("float32")  # standardised: your inputs go to your model as they are
x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)


def build_model():  # any uncompiled Keras model: functional, Sequential, subclassed, several inputs
    inputs = keras.Input((30,))
    hidden = keras.layers.Dropout(0.2)(keras.layers.Dense(16, activation="relu")(inputs))
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(hidden))


searcher = keras_nos.OptimizerSearch(build_model, loss="binary_crossentropy", metrics=["auc"], objective="val_auc",
                                     budget=args.budget, funnel_top_k=args.funnel_top_k, tracking_uri=args.tracking_uri)
searcher.search(x_train, y_train, validation_data=(x_val, y_val), epochs=5, batch_size=32)
print(keras_nos.search.format_leaderboard(searcher.leaderboard(), limit=5))
print(f"best rule: {searcher.best_rule()}, learning rate {float(searcher.best_optimizer().learning_rate):.3g}")
