#!/usr/bin/env python3
"""TensorFlow side of `make bench-compare` (the seed's own framework): the same models in Keras, NHWC,
with DepthwiseConv2D; the same batch, SGD optimizer and thread count; timed the same way. Not run by CI.

    python3 -m venv ~/.cache/tf-venv && ~/.cache/tf-venv/bin/pip install tensorflow-cpu
    ~/.cache/tf-venv/bin/python bench/tensorflow_reference.py --model seed --batch-size 128 --threads 2

Prints one JSON object on standard output.
"""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from common import arguments, median_seconds, result, side  # noqa: E402  (bench/, the script's own folder)
import tensorflow as tf  # noqa: E402
from tensorflow import keras  # noqa: E402
from tensorflow.keras import layers  # noqa: E402

BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
          (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


def seednet(classes, standard):
    """The seed's network, layer for layer (its own framework and layout)."""
    x = inputs = keras.Input((32, 32, 3))
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.MaxPool2D(2)(x)
    for _ in range(2):
        for _ in range(2):
            if standard:
                x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
            else:
                x = layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
                x = layers.Conv2D(32, 1, activation="relu")(x)
        x = layers.MaxPool2D(2)(x)
    x = layers.Flatten()(x)
    return keras.Model(inputs, layers.Dense(classes)(x))


def mobilenet(alpha, classes, standard, stem, input_side):
    """MobileNet v1, BN + ReLU after every conv; the CIFAR stem's first conv has stride 1, ImageNet's 2."""
    def scaled(c):
        return max(8, int(c * alpha))
    x = inputs = keras.Input((input_side, input_side, 3))
    first = layers.Conv2D(scaled(32), 3, strides=2 if stem == "imagenet" else 1, padding="same", use_bias=False)
    x = layers.ReLU()(layers.BatchNormalization()(first(x)))
    for out, stride in BLOCKS:
        if standard:
            x = layers.Conv2D(scaled(out), 3, strides=stride, padding="same", use_bias=False)(x)
        else:
            x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
            x = layers.ReLU()(layers.BatchNormalization()(x))
            x = layers.Conv2D(scaled(out), 1, use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(classes)(x))


def main():
    p = arguments(__doc__, warmup=3)
    args = p.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.random.set_seed(0)
    model = (seednet(args.classes, args.standard) if args.model == "seed"
             else mobilenet(args.alpha, args.classes, args.standard, args.stem, side(args)))
    optimizer = keras.optimizers.SGD(learning_rate=1e-4, momentum=0.9)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x = tf.random.normal((args.batch_size, side(args), side(args), 3))
    y = tf.random.uniform((args.batch_size,), maxval=args.classes, dtype=tf.int32)

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    @tf.function
    def infer():
        return model(x, training=False)

    step = median_seconds(lambda: train_step().numpy(), args)
    infer_time = median_seconds(lambda: infer().numpy(), args)
    print(json.dumps(result("tensorflow " + tf.__version__, "nhwc", args, args.threads, step, infer_time)), flush=True)


if __name__ == "__main__":
    main()
