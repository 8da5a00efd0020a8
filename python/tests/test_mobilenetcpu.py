"""Tests of the Python package: the kernels against a naive NumPy convolution and the repository's
PyTorch fixtures, networks against the CLI (the Swift path) on the same checkpoint and the same
training steps, every kind of bad call, and two networks on two threads.

Run by `make test` (which builds the library and the CLI, and makes a venv with NumPy):
    MOBILENETCPU_LIBRARY=…/libmobilenetcpu.so MOBILENETCPU_CLI=…/mobilenet python -m unittest discover python/tests
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
import unittest

import numpy as np

import mobilenetcpu as mnc

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures")


def read_safetensors(path):
    """The tensors of a safetensors file as NumPy arrays, by name."""
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    dtypes = {"F32": np.float32, "I64": np.int64, "F64": np.float64, "I32": np.int32}
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        raw = data[8 + length + start:8 + length + end]
        tensors[name] = np.frombuffer(raw, dtype=dtypes[entry["dtype"]]).reshape(entry["shape"])
    return tensors


def cli():
    """The `mobilenet` executable of this checkout: $MOBILENETCPU_CLI, else a built one."""
    candidates = [os.environ.get("MOBILENETCPU_CLI", "")] + [
        os.path.join(ROOT, d, "mobilenet") for d in (".build-test/debug", ".build/release", ".build/debug")]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise AssertionError("no mobilenet executable: build it (make release) or set MOBILENETCPU_CLI")


# --------------------------------------------------------------------------------------------------
# Naive references, NHWC, in float64: the definition of each convolution, one kernel offset at a time.


def _windows(x, k, stride, padding):
    """For each kernel offset (ky, kx): the input pixels it meets, [n, oh, ow, c], their slices of
    the padded input, and the padded input's shape."""
    xp = np.pad(x.astype(np.float64), ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    oh = (x.shape[1] + 2 * padding - k) // stride + 1
    ow = (x.shape[2] + 2 * padding - k) // stride + 1
    for ky in range(k):
        for kx in range(k):
            rows = slice(ky, ky + stride * (oh - 1) + 1, stride)
            cols = slice(kx, kx + stride * (ow - 1) + 1, stride)
            yield ky, kx, xp[:, rows, cols, :], (rows, cols), xp.shape


class Standard:
    """A standard convolution's weights [out, k, k, c]: each offset's tap is an [out, c] matrix."""
    side = staticmethod(lambda w: w.shape[1])
    tap = staticmethod(lambda w, ky, kx: w[:, ky, kx, :])
    apply = staticmethod(lambda patch, tap: patch @ tap.T)
    dtap = staticmethod(lambda patch, dy: np.einsum("nijo,nijc->oc", dy, patch))
    dpatch = staticmethod(lambda dy, tap: dy @ tap)


class Depthwise:
    """A depthwise convolution's weights [k, k, c]: each offset's tap is a [c] vector."""
    side = staticmethod(lambda w: w.shape[0])
    tap = staticmethod(lambda w, ky, kx: w[ky, kx, :])
    apply = staticmethod(lambda patch, tap: patch * tap)
    dtap = staticmethod(lambda patch, dy: (dy * patch).sum(axis=(0, 1, 2)))
    dpatch = staticmethod(lambda dy, tap: dy * tap)


def forward_reference(kind, x, w, b, stride, padding):
    y = 0
    for ky, kx, patch, _, _ in _windows(x, kind.side(w), stride, padding):
        y = y + kind.apply(patch, kind.tap(w.astype(np.float64), ky, kx))
    return y + (0 if b is None else b)


def backward_reference(kind, x, w, dy, stride, padding):
    """(dx, dweight, dbias) for dy, each tap's share summed."""
    dy, w = dy.astype(np.float64), w.astype(np.float64)
    dw, dxp = np.zeros(w.shape), None
    for ky, kx, patch, (rows, cols), padded in _windows(x, kind.side(w), stride, padding):
        kind.tap(dw, ky, kx)[...] = kind.dtap(patch, dy)
        dxp = np.zeros(padded) if dxp is None else dxp
        dxp[:, rows, cols, :] += kind.dpatch(dy, kind.tap(w, ky, kx))
    dx = dxp[:, padding:padding + x.shape[1], padding:padding + x.shape[2], :]
    return dx, dw, dy.sum(axis=(0, 1, 2))


def assert_close(test, got, expected, what, rtol=2e-5):
    scale = max(1.0, float(np.abs(expected).max()))
    error = float(np.abs(got.astype(np.float64) - expected).max()) / scale
    test.assertLess(error, rtol, "%s: largest error %.3g of scale %.3g" % (what, error, scale))


class KernelTests(unittest.TestCase):
    """Each kernel function, forward and both gradients, against the naive references and the PyTorch fixtures."""

    rng = np.random.default_rng(11)

    def random(self, *shape):
        return self.rng.standard_normal(shape).astype(np.float32)

    def test_conv2d_matches_the_naive_convolution_on_every_algorithm(self):
        cases = [(2, 7, 6, 3, 5, 3, 1, 1), (3, 9, 8, 4, 6, 3, 2, 1), (1, 8, 8, 8, 16, 3, 1, 0), (2, 6, 5, 3, 4, 1, 1, 0),
                 (1, 11, 9, 2, 3, 5, 2, 2)]
        for n, h, w, c, o, k, stride, padding in cases:
            x, weight, bias = self.random(n, h, w, c), self.random(o, k, k, c), self.random(o)
            y_ref = forward_reference(Standard, x, weight, bias, stride, padding)
            dy = self.random(*y_ref.shape)
            dx_ref, dw_ref, db_ref = backward_reference(Standard, x, weight, dy, stride, padding)
            for algorithm in ("auto", "im2col", "direct", "winograd"):
                what = "conv2d %s k%d s%d p%d %s" % ((n, h, w, c, o), k, stride, padding, algorithm)
                y = mnc.conv2d(x, weight, bias, stride=stride, padding=padding, algorithm=algorithm)
                assert_close(self, y, y_ref, what + " y", rtol=1e-4 if algorithm == "winograd" else 2e-5)
                dx, dw, db = mnc.conv2d_backward(x, weight, dy, stride=stride, padding=padding, algorithm=algorithm)
                assert_close(self, dx, dx_ref, what + " dx", rtol=1e-4 if algorithm == "winograd" else 2e-5)
                assert_close(self, dw, dw_ref, what + " dweight")
                assert_close(self, db, db_ref, what + " dbias")

    def test_depthwise_and_pointwise_match_the_naive_convolutions(self):
        for n, h, w, c, stride, padding in [(2, 7, 6, 5, 1, 1), (3, 9, 8, 12, 2, 1), (1, 6, 6, 17, 2, 0)]:
            x, weight, bias = self.random(n, h, w, c), self.random(3, 3, c), self.random(c)
            y_ref = forward_reference(Depthwise, x, weight, bias, stride, padding)
            assert_close(self, mnc.depthwise_conv2d(x, weight, bias, stride=stride, padding=padding), y_ref, "depthwise y")
            dy = self.random(*y_ref.shape)
            dx, dw, db = mnc.depthwise_conv2d_backward(x, weight, dy, stride=stride, padding=padding)
            for got, expected, name in zip((dx, dw, db), backward_reference(Depthwise, x, weight, dy, stride, padding),
                                           ("dx", "dweight", "dbias")):
                assert_close(self, got, expected, "depthwise %s" % name)
        for algorithm in ("auto", "im2col", "direct"):
            x, weight, bias = self.random(2, 5, 4, 19), self.random(11, 19), self.random(11)
            y_ref = x.astype(np.float64) @ weight.T.astype(np.float64) + bias
            assert_close(self, mnc.pointwise_conv2d(x, weight, bias, algorithm=algorithm), y_ref, "pointwise " + algorithm)
            dy = self.random(2, 5, 4, 11)
            dx, dw, db = mnc.pointwise_conv2d_backward(x, weight, dy, algorithm=algorithm)
            assert_close(self, dx, dy.astype(np.float64) @ weight.astype(np.float64), "pointwise dx")
            assert_close(self, dw, np.einsum("nijo,nijc->oc", dy.astype(np.float64), x.astype(np.float64)), "pointwise dw")
            assert_close(self, db, dy.astype(np.float64).sum(axis=(0, 1, 2)), "pointwise db")

    def test_the_kernels_reproduce_the_pytorch_fixtures(self):
        nhwc = lambda a: np.ascontiguousarray(a.transpose(0, 2, 3, 1))  # noqa: E731 (NCHW to NHWC)
        for name, stride in (("conv3x3_s1", 1), ("conv3x3_s2", 2)):
            f = read_safetensors(os.path.join(FIXTURES, name + ".safetensors"))
            weight = np.ascontiguousarray(f["weight"].transpose(0, 2, 3, 1))  # OIHW to OHWI
            assert_close(self, mnc.conv2d(nhwc(f["x"]), weight, f["bias"], stride=stride, padding=1), nhwc(f["y"]), name)
            dx, dw, db = mnc.conv2d_backward(nhwc(f["x"]), weight, nhwc(f["dy"]), stride=stride, padding=1)
            assert_close(self, dx, nhwc(f["dx"]), name + " dx")
            assert_close(self, dw.transpose(0, 3, 1, 2), f["dweight"], name + " dweight")
            assert_close(self, db, f["dbias"], name + " dbias")
        for name, stride in (("depthwise_s1", 1), ("depthwise_s2", 2)):
            f = read_safetensors(os.path.join(FIXTURES, name + ".safetensors"))
            weight = np.ascontiguousarray(f["weight"][:, 0].transpose(1, 2, 0))  # [C, 1, k, k] to [k, k, C]
            bias = f.get("bias")
            assert_close(self, mnc.depthwise_conv2d(nhwc(f["x"]), weight, bias, stride=stride), nhwc(f["y"]), name)
            dx, dw, db = mnc.depthwise_conv2d_backward(nhwc(f["x"]), weight, nhwc(f["dy"]), stride=stride,
                                                       bias=bias is not None)
            assert_close(self, dx, nhwc(f["dx"]), name + " dx")
            assert_close(self, dw.transpose(2, 0, 1), f["dweight"][:, 0], name + " dweight")
            if bias is not None:
                assert_close(self, db, f["dbias"], name + " dbias")
        f = read_safetensors(os.path.join(FIXTURES, "pointwise.safetensors"))
        weight = np.ascontiguousarray(f["weight"][:, :, 0, 0])
        assert_close(self, mnc.pointwise_conv2d(nhwc(f["x"]), weight, f["bias"]), nhwc(f["y"]), "pointwise")
        dx, dw, db = mnc.pointwise_conv2d_backward(nhwc(f["x"]), weight, nhwc(f["dy"]))
        assert_close(self, dx, nhwc(f["dx"]), "pointwise dx")
        assert_close(self, dw, f["dweight"][:, :, 0, 0], "pointwise dweight")
        assert_close(self, db, f["dbias"], "pointwise dbias")

    def test_gradients_that_are_not_asked_for_are_not_computed(self):
        x, weight = self.random(1, 5, 5, 3), self.random(4, 3, 3, 3)
        dx, dw, db = mnc.conv2d_backward(x, weight, self.random(1, 5, 5, 4), padding=1, bias=False, input_gradient=False)
        self.assertIsNone(dx)
        self.assertIsNone(db)
        self.assertEqual(dw.shape, weight.shape)

    def test_contiguous_float32_arrays_are_passed_without_a_copy_and_others_are_copied(self):
        a = self.random(2, 3, 4, 5)
        self.assertIs(mnc._floats(a, "a"), a)
        for other in (a[:, :, ::2], np.asfortranarray(a), a.astype(np.float64), a.astype(np.float16)):
            converted = mnc._floats(other, "a")
            self.assertTrue(converted.flags.c_contiguous and converted.dtype == np.float32)
            np.testing.assert_array_equal(converted, other.astype(np.float32))
        weight = self.random(4, 3, 3, 5)
        strided = a[:, :, ::2]
        np.testing.assert_array_equal(mnc.conv2d(strided, weight, padding=1),
                                      mnc.conv2d(np.ascontiguousarray(strided), weight, padding=1))


# --------------------------------------------------------------------------------------------------
# Networks against the CLI


def write_cifar10_binary(folder, rng, train_per_batch=4, test=6):
    """A small CIFAR-10 in the official binary layout (5 training batches, a test batch, the class
    names); returns the training and test images [n, 32, 32, 3] uint8 and labels in file order."""
    os.makedirs(folder)

    def records(count, name):
        labels = rng.integers(0, 10, count).astype(np.uint8)
        images = rng.integers(0, 256, (count, 3, 32, 32)).astype(np.uint8)  # stored channel-major
        with open(os.path.join(folder, name), "wb") as f:
            for label, image in zip(labels, images):
                f.write(bytes([label]) + image.tobytes())
        return images.transpose(0, 2, 3, 1), labels

    train = [records(train_per_batch, "data_batch_%d.bin" % i) for i in range(1, 6)]
    test_set = records(test, "test_batch.bin")
    with open(os.path.join(folder, "batches.meta.txt"), "w") as f:
        f.write("\n".join(["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]))
        f.write("\n")
    train_images = np.concatenate([images for images, _ in train])
    train_labels = np.concatenate([labels for _, labels in train])
    return (train_images, train_labels), test_set


def normalize(images, mean=None, std=None):
    """The CLI's pixel scaling in its float32 arithmetic: pixel · scale + shift, with scale 1/127.5
    and shift −1 for --normalize seed, 1/(255 std) and −mean/std per channel for meanstd."""
    if mean is None:
        scale, shift = np.float32(1 / 127.5), np.float32(-1)
    else:
        mean, std = np.float32(mean), np.float32(std)
        scale, shift = np.float32(1) / (np.float32(255) * std), -mean / std
    return images.astype(np.float32) * scale + shift


class NetworkTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.scratch = tempfile.TemporaryDirectory()
        cls.data = os.path.join(cls.scratch.name, "cifar-10-batches-bin")
        cls.train, cls.test = write_cifar10_binary(cls.data, np.random.default_rng(5))

    @classmethod
    def tearDownClass(cls):
        cls.scratch.cleanup()

    def run_cli(self, *arguments):
        result = subprocess.run([cli(), *arguments], capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, "mobilenet %s failed:\n%s" % (" ".join(arguments), result.stderr))
        return result.stdout

    def cli_training(self, name, steps, optimizer, *options):
        """Trains SeedNet with the CLI for `steps` full-batch steps on the small set; its checkpoint."""
        checkpoint = os.path.join(self.scratch.name, name + ".safetensors")
        self.run_cli("train", "--data", self.data, "--model", "seed", "--steps", str(steps), "--batch-size", "20",
                     "--optimizer", optimizer, "--schedule", "constant", "--no-augment", "--normalize", "seed",
                     "--seed", "7", "--checkpoint", checkpoint, *options)
        return checkpoint

    def test_logits_through_python_equal_the_cli_evaluation_of_the_same_checkpoint(self):
        checkpoint = self.cli_training("eval", 2, "adam", "--lr", "1e-3")
        logits_file = os.path.join(self.scratch.name, "logits.npy")
        self.run_cli("eval", "--checkpoint", checkpoint, "--logits", logits_file)
        expected = np.load(logits_file)
        net = mnc.Network.load(checkpoint, max_batch=len(self.test[0]))
        self.assertEqual((net.family, net.classes, net.resolution), ("seed", 10, 32))
        images = normalize(self.test[0])
        np.testing.assert_array_equal(net.forward(images), expected)
        nchw = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
        np.testing.assert_array_equal(net.forward(nchw, layout="NCHW"), expected)

    def test_training_steps_through_python_equal_the_same_steps_through_the_cli(self):
        for optimizer, options, make in (
                ("sgd", ("--lr", "0.05", "--momentum", "0.9", "--nesterov", "--weight-decay", "5e-4"),
                 lambda net: mnc.Optimizer.sgd(net, momentum=0.9, nesterov=True, weight_decay=5e-4)),
                ("adamw", ("--lr", "1e-3", "--weight-decay", "0.01"), lambda net: mnc.Optimizer.adamw(net, 0.01))):
            with self.subTest(optimizer=optimizer):
                steps = 3
                expected = read_safetensors(self.cli_training("steps-" + optimizer, steps, optimizer, *options))
                lr = float(options[1])
                net = mnc.Network("seed", seed=7, max_batch=20)
                initial = os.path.join(self.scratch.name, "initial.safetensors")
                net.save(initial)
                initial = read_safetensors(initial)
                opt = make(net)
                images, labels = normalize(self.train[0]), self.train[1]
                for _ in range(steps):
                    net.train_step(images, labels, opt, lr)
                self.assertEqual(opt.steps, steps)
                saved = os.path.join(self.scratch.name, "python-%s.safetensors" % optimizer)
                net.save(saved, opt)
                got = read_safetensors(saved)
                self.assertEqual(set(got), set(expected))
                moved = 0.0
                for name, value in got.items():
                    # The CLI shuffles its one batch, so sums run in another order: equal within rounding.
                    np.testing.assert_allclose(value, expected[name], rtol=1e-4, atol=2e-6, err_msg=name)
                    if name in initial and value.dtype == np.float32:
                        moved = max(moved, float(np.abs(value - initial[name]).max()))
                self.assertGreater(moved, 1e-3, "the steps changed the weights by more than the tolerance")

    def test_a_checkpoint_saved_from_python_is_read_by_the_cli(self):
        net = mnc.Network("mobilenet", alpha=0.25, seed=2, max_batch=6)
        path = os.path.join(self.scratch.name, "python.safetensors")
        net.save(path)
        logits_file = os.path.join(self.scratch.name, "python-logits.npy")
        self.run_cli("eval", "--checkpoint", path, "--data", self.data, "--logits", logits_file)
        # A checkpoint without a training run is evaluated with CIFAR-10's mean and standard deviation.
        images = normalize(self.test[0], mean=[0.4914, 0.4822, 0.4465], std=[0.2023, 0.1994, 0.2010])
        np.testing.assert_array_equal(net.forward(images), np.load(logits_file))

    def test_forward_after_a_training_step_reads_the_new_weights(self):
        # Forward passes share one packed copy of the weights between training steps.
        net = mnc.Network("mobilenet", alpha=0.25, seed=3, max_batch=6)
        images = normalize(self.test[0], mean=[0.4914, 0.4822, 0.4465], std=[0.2023, 0.1994, 0.2010])
        before = net.forward(images)
        np.testing.assert_array_equal(net.forward(images), before)
        net.train_step(images, self.test[1], mnc.Optimizer.sgd(net, momentum=0.9), 0.1)
        after = net.forward(images)
        self.assertFalse(np.array_equal(after, before))
        path = os.path.join(self.scratch.name, "stepped.safetensors")
        net.save(path)
        logits_file = os.path.join(self.scratch.name, "stepped-logits.npy")
        self.run_cli("eval", "--checkpoint", path, "--data", self.data, "--logits", logits_file)
        np.testing.assert_array_equal(after, np.load(logits_file))

    def test_the_example_trains_on_cifar10_arrays_loaded_with_numpy(self):
        checkpoint = os.path.join(self.scratch.name, "example.safetensors")
        example = os.path.join(ROOT, "python", "examples", "train_cifar10.py")
        result = subprocess.run([sys.executable, example, self.data, "--steps", "6", "--batch-size", "4", "--save",
                                 checkpoint], capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("CIFAR-10: 20 training and 6 test images", result.stdout)
        self.assertRegex(result.stdout, r"test accuracy \d+\.\d\d%")
        self.assertEqual(mnc.Network.load(checkpoint).family, "seed")

    def test_cost_matches_the_cli_summary(self):
        summary = json.loads(self.run_cli("summary", "--model", "mobilenet", "--alpha", "0.5", "--json"))
        cost = mnc.model_cost("mobilenet", alpha=0.5)
        for key in ("macs", "params", "baseline_macs", "baseline_params"):
            self.assertEqual(cost[key], summary[key], key)
        layers = mnc.model_layers("mobilenet", alpha=0.5)
        self.assertEqual(sum(layer["macs"] for layer in layers), cost["macs"])
        self.assertEqual(sum(layer["params"] for layer in mnc.model_layers("mobilenet", alpha=0.5, baseline=True)),
                         cost["baseline_params"])
        self.assertEqual([layer["name"] for layer in layers], [layer["name"] for layer in summary["layers"]])

    def test_output_stride_reaches_the_engine_and_comes_back_from_a_checkpoint(self):
        summary = json.loads(self.run_cli("summary", "--model", "mobilenet", "--alpha", "0.25", "--output-stride", "4",
                                          "--json"))
        cost = mnc.model_cost("mobilenet", alpha=0.25, output_stride=4)
        self.assertEqual(cost["macs"], summary["macs"])
        self.assertGreater(cost["macs"], mnc.model_cost("mobilenet", alpha=0.25)["macs"])
        self.assertEqual(mnc.model_layers("mobilenet", alpha=0.25, output_stride=4)[-4]["output"], [8, 8, 256])
        net = mnc.Network("mobilenet", alpha=0.25, seed=4, max_batch=2, output_stride=4)
        self.assertEqual(net.output_stride, 4)
        self.assertEqual(mnc.Network("mobilenet", alpha=0.25, max_batch=1).output_stride, 16)
        path = os.path.join(self.scratch.name, "stride4.safetensors")
        net.save(path)
        self.assertEqual(mnc.Network.load(path, max_batch=2).output_stride, 4)
        images = normalize(self.test[0][:2], mean=[0.4914, 0.4822, 0.4465], std=[0.2023, 0.1994, 0.2010])
        np.testing.assert_array_equal(mnc.Network.load(path, max_batch=2).forward(images), net.forward(images))


# --------------------------------------------------------------------------------------------------
# Bad calls: each is an exception with the engine's message, and the process lives on.


class BadCallTests(unittest.TestCase):
    def setUp(self):
        self.net = mnc.Network("seed", seed=1, max_batch=4)
        self.opt = mnc.Optimizer.sgd(self.net)
        self.images = np.zeros((2, 32, 32, 3), np.float32)
        self.labels = np.array([1, 2])
        self.scratch = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.scratch.cleanup()

    def assertEngineError(self, status, fragment, function, *arguments, **keywords):
        with self.assertRaises(mnc.MobileNetCPUError) as caught:
            function(*arguments, **keywords)
        self.assertEqual(caught.exception.status, status, str(caught.exception))
        self.assertIn(fragment, str(caught.exception))

    def test_none_wrong_types_and_wrong_shapes_are_python_errors(self):
        self.assertRaises(TypeError, self.net.forward, None)
        self.assertRaises(TypeError, self.net.forward, np.array([["a"]]))
        self.assertRaises(TypeError, self.net.forward, np.zeros((2, 32, 32, 3), np.complex64))
        self.assertRaises(TypeError, mnc.conv2d, np.zeros((1, 4, 4, 3)), None)
        self.assertRaises(ValueError, self.net.forward, np.zeros((2, 31, 32, 3), np.float32))
        self.assertRaises(ValueError, self.net.forward, np.zeros((32, 32, 3), np.float32))
        self.assertRaises(ValueError, self.net.forward, self.images, layout="CHWN")
        self.assertRaises(ValueError, self.net.train_step, self.images, np.array([1.5, 2.0]), self.opt, 0.1)
        self.assertRaises(ValueError, self.net.train_step, self.images, np.array([1, 2, 3]), self.opt, 0.1)
        self.assertRaises(TypeError, self.net.train_step, self.images, self.labels, self.net, 0.1)
        self.assertRaises(ValueError, mnc.conv2d, np.zeros((1, 4, 4, 3)), np.zeros((2, 3, 3, 4)))
        self.assertRaises(ValueError, mnc.conv2d, np.zeros((1, 4, 4, 3)), np.zeros((2, 3, 3, 3)), np.zeros(3))
        self.assertRaises(ValueError, mnc.depthwise_conv2d_backward, np.zeros((1, 4, 4, 3)), np.zeros((3, 3, 3)),
                          np.zeros((1, 5, 4, 3)))
        self.assertRaises(ValueError, mnc.Network, "resnet")

    def test_values_the_engine_refuses_are_engine_errors_with_its_message(self):
        self.assertEngineError(1, "max_batch 4", self.net.forward, np.zeros((5, 32, 32, 3), np.float32))
        self.assertEngineError(1, "label", self.net.train_step, self.images, np.array([1, 10]), self.opt, 0.1)
        self.assertEngineError(1, "label", self.net.train_step, self.images, np.array([-1, 0]), self.opt, 0.1)
        self.assertEngineError(1, "learning_rate", self.net.train_step, self.images, self.labels, self.opt, float("nan"))
        self.assertEngineError(1, "momentum", mnc.Optimizer.sgd, self.net, momentum=1.5)
        self.assertEngineError(1, "weight_decay", mnc.Optimizer.adam, self.net, weight_decay=-1)
        self.assertEngineError(1, "class", mnc.Network, "seed", classes=1)
        self.assertEngineError(1, "max_batch", mnc.Network, "seed", max_batch=0)
        self.assertEngineError(1, "width multiplier", mnc.Network, "mobilenet", alpha=-0.5)
        self.assertEngineError(1, "memory", mnc.Network, "mobilenet", alpha=1, resolution=4096, max_batch=1024)
        self.assertEngineError(1, "threads", mnc.set_threads, 0)
        self.assertEngineError(1, "label smoothing", self.net.train_step, self.images, self.labels, self.opt, 0.1,
                               label_smoothing=2)
        self.assertEngineError(2, "larger than the padded input", mnc.conv2d, np.zeros((1, 2, 2, 3)), np.zeros((4, 3, 3, 3)))
        self.assertEngineError(1, "stride", mnc.conv2d, np.zeros((1, 4, 4, 3)), np.zeros((4, 3, 3, 3)), stride=0)
        self.assertEngineError(1, "padding", mnc.depthwise_conv2d, np.zeros((1, 4, 4, 3)), np.zeros((3, 3, 3)), padding=-1)

    def test_an_output_stride_the_stem_cannot_have_is_an_engine_error(self):
        self.assertEngineError(1, "output stride must be a power of two", mnc.Network, "mobilenet", output_stride=3)
        self.assertEngineError(1, "output stride must not be negative", mnc.model_cost, "mobilenet", output_stride=-2)
        self.assertEngineError(1, "SeedNet has no output stride", mnc.Network, "seed", output_stride=8)

    def test_null_pointers_and_short_buffers_through_the_raw_functions_are_statuses(self):
        handle = self.net._handle
        self.assertEqual(mnc._lib.mnc_network_forward(handle, None, 1, 0, None, 0), 1)
        self.assertIn("images is null", mnc._lib.mnc_last_error().decode())
        logits = np.zeros(10, np.float32)
        self.assertEqual(mnc._lib.mnc_network_forward(handle, mnc._pointer(self.images), 2, 0, mnc._pointer(logits), 10), 2)
        self.assertIn("logits_count", mnc._lib.mnc_last_error().decode())
        self.assertEqual(mnc._lib.mnc_network_create(None, 1, 1, None), 1)
        self.assertEqual(mnc._lib.mnc_conv2d_forward(None, 0, None, None, None, None, None, 0), 1)

    def test_closed_freed_and_wrong_kind_handles_are_errors(self):
        other = mnc.Network("seed", seed=2, max_batch=4)
        foreign = mnc.Optimizer.sgd(other)
        self.assertEngineError(1, "another network", self.net.train_step, self.images, self.labels, foreign, 0.1)
        self.assertEngineError(1, "another network", self.net.save, os.path.join(self.scratch.name, "x"), foreign)
        # An optimizer's handle given where a network's is expected, and the other way round.
        self.assertEqual(mnc._lib.mnc_network_describe(self.opt._handle, None, None), 5)
        self.assertIn("network", mnc._lib.mnc_last_error().decode())
        self.assertEqual(mnc._lib.mnc_optimizer_free(self.net._handle), 5)
        # A freed handle, used again through the raw functions and through the objects.
        freed = other._handle
        other.close()
        self.assertEqual(mnc._lib.mnc_network_free(freed), 5)
        self.assertEqual(mnc._lib.mnc_network_describe(freed, None, None), 5)
        self.assertEngineError(5, "closed", other.forward, self.images)
        self.assertEqual(mnc._lib.mnc_network_train_step(self.net._handle, mnc._pointer(self.images), 2, 0,
                                                         self.labels.astype(np.int32).ctypes.data_as(mnc._int32_p),
                                                         None, 0.1, 0, None, None), 5)
        other.close()  # closing twice is allowed

    def test_corrupt_missing_and_foreign_checkpoints_are_errors(self):
        path = os.path.join(self.scratch.name, "net.safetensors")
        self.net.save(path, self.opt)
        with open(path, "rb") as f:
            data = f.read()
        cases = {"truncated": data[:len(data) // 2], "garbage": b"\x00" * 64, "empty": b"",
                 "bad header": data[:9] + b"!" + data[10:], "huge header": struct.pack("<Q", 1 << 60) + data[8:]}
        for name, content in cases.items():
            with self.subTest(name):
                broken = os.path.join(self.scratch.name, name)
                with open(broken, "wb") as f:
                    f.write(content)
                self.assertEngineError(3, broken, mnc.Network.load, broken)
        self.assertEngineError(4, "missing", mnc.Network.load, os.path.join(self.scratch.name, "missing.safetensors"))
        self.assertEngineError(4, "", self.net.save, os.path.join(self.scratch.name, "no", "such", "folder", "x"))
        self.assertEqual(mnc.Network.load(path).classes, 10)

    def test_a_diverging_step_is_reported(self):
        net = mnc.Network("seed", seed=1, max_batch=2)
        opt = mnc.Optimizer.sgd(net, momentum=0)
        images = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
        with self.assertRaises(mnc.MobileNetCPUError) as caught:
            for _ in range(20):
                net.train_step(images, self.labels, opt, 1e12)
        self.assertEqual(caught.exception.status, 6, str(caught.exception))
        self.assertIn("the loss became", str(caught.exception))

    def test_after_every_mistake_the_network_still_works(self):
        self.test_none_wrong_types_and_wrong_shapes_are_python_errors()
        self.test_values_the_engine_refuses_are_engine_errors_with_its_message()
        loss, correct = self.net.train_step(self.images, self.labels, self.opt, 0.01)
        self.assertTrue(np.isfinite(loss) and 0 <= correct <= 2)
        self.assertEqual(self.net.forward(self.images).shape, (2, 10))


# --------------------------------------------------------------------------------------------------
# Threads


class ThreadTests(unittest.TestCase):
    def train(self, seed, results):
        rng = np.random.default_rng(seed)
        images = rng.uniform(-1, 1, (8, 32, 32, 3)).astype(np.float32)
        labels = rng.integers(0, 10, 8)
        net = mnc.Network("mobilenet", alpha=0.25, seed=seed, max_batch=8)
        opt = mnc.Optimizer.adam(net)
        losses = [net.train_step(images, labels, opt, 1e-3)[0] for _ in range(4)]
        results[seed] = (losses, net.forward(images))

    def test_two_networks_on_two_threads_give_the_results_of_one_at_a_time(self):
        alone = {}
        self.train(1, alone)
        self.train(2, alone)
        together = {}
        threads = [threading.Thread(target=self.train, args=(seed, together)) for seed in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for seed in (1, 2):
            self.assertEqual(together[seed][0], alone[seed][0])
            np.testing.assert_array_equal(together[seed][1], alone[seed][1])
        self.assertNotEqual(alone[1][0], alone[2][0])

    def test_errors_are_kept_per_thread(self):
        messages = {}

        def fail(name, call):
            try:
                call()
            except mnc.MobileNetCPUError as error:
                messages[name] = str(error)

        threads = [threading.Thread(target=fail, args=("threads", lambda: mnc.set_threads(-1))),
                   threading.Thread(target=fail, args=("classes", lambda: mnc.Network("seed", classes=0)))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertIn("threads", messages["threads"])
        self.assertIn("class", messages["classes"])


class LibraryTests(unittest.TestCase):
    def test_version_and_threads(self):
        self.assertRegex(mnc.version(), r"^\d+\.\d+\.\d+$")
        before = mnc.get_threads()
        try:
            mnc.set_threads(1)
            self.assertEqual(mnc.get_threads(), 1)
        finally:
            mnc.set_threads(before)


if __name__ == "__main__":
    unittest.main()
