"""`mobilenet export` checked by ONNX itself and by ONNX Runtime: every model family exports a model
that onnx.checker accepts (full check) and whose logits, run by ONNX Runtime at batch 1 and 7,
equal the library's forward on the same checkpoint within 1e-4 relative.

Run by `make test` in its venv (numpy, onnx, onnxruntime, and this package).
"""
import json
import os
import subprocess
import tempfile
import unittest

import numpy as np
import onnx
import onnxruntime as ort

import mobilenetcpu as mnc
from test_mobilenetcpu import cli

MODELS = [
    dict(family="seed"),
    dict(family="seed", standard=True),
    dict(family="mobilenet", alpha=0.25),
    dict(family="mobilenet", alpha=1.0),
    dict(family="mobilenet", alpha=0.25, standard=True),
    dict(family="mobilenet", alpha=0.25, output_stride=4),
    dict(family="mobilenet", alpha=0.25, stem="imagenet", resolution=128, classes=100),
    dict(family="mobilenet", alpha=1.0, stem="imagenet", classes=1000),
]


def relative_error(got, expected):
    return float(np.abs(got - expected).max() / max(np.abs(expected).max(), 1e-6))


class ONNXExportTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.scratch = tempfile.TemporaryDirectory()
        ort.set_default_logger_severity(3)

    @classmethod
    def tearDownClass(cls):
        cls.scratch.cleanup()

    def checkpoint(self, spec, name):
        """A checkpoint of `spec` after one training step, so that batch norm's statistics are not
        their initial values; returns its path and the network."""
        net = mnc.Network(spec["family"], alpha=spec.get("alpha", 1.0), resolution=spec.get("resolution", 0),
                          stem=spec.get("stem", "cifar"), classes=spec.get("classes", 10),
                          standard=spec.get("standard", False), seed=3, max_batch=7,
                          output_stride=spec.get("output_stride", 0))
        rng = np.random.default_rng(4)
        side = net.resolution
        images = rng.standard_normal((4, side, side, 3)).astype(np.float32)
        net.train_step(images, rng.integers(0, net.classes, 4), mnc.Optimizer.sgd(net, momentum=0.9), 0.05)
        path = os.path.join(self.scratch.name, name + ".safetensors")
        net.save(path)
        return path, net

    def export(self, checkpoint, name, *options):
        path = os.path.join(self.scratch.name, name + ".onnx")
        result = subprocess.run([cli(), "export", "--checkpoint", checkpoint, "--output", path, *options],
                                capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        return path

    def run_onnx(self, path, images):
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        self.assertEqual([i.name for i in session.get_inputs()], ["input"])
        self.assertEqual([o.name for o in session.get_outputs()], ["logits"])
        return session.run(["logits"], {"input": images})[0]

    def test_every_model_runs_in_onnx_runtime_with_the_library_s_logits(self):
        for i, spec in enumerate(MODELS):
            with self.subTest(**spec):
                checkpoint, net = self.checkpoint(spec, "model%d" % i)
                rng = np.random.default_rng(5)
                images = rng.standard_normal((7, 3, net.resolution, net.resolution)).astype(np.float32)
                expected = net.forward(images, layout="NCHW")
                kept = self.export(checkpoint, "kept%d" % i, "--keep-batchnorm")
                folded = self.export(checkpoint, "folded%d" % i)
                for path in (kept, folded):
                    onnx.checker.check_model(onnx.load(path), full_check=True)
                    for batch in (1, 7):
                        got = self.run_onnx(path, images[:batch])
                        self.assertEqual(got.shape, (batch, net.classes))
                        self.assertLess(relative_error(got, expected[:batch]), 1e-4, "%s at batch %d" % (path, batch))
                # Folding is the default because it changes the logits by float32 rounding only.
                self.assertLess(relative_error(self.run_onnx(folded, images), self.run_onnx(kept, images)), 1e-5)

    def test_the_graph_is_pytorch_s_with_depthwise_as_grouped_conv(self):
        checkpoint, _ = self.checkpoint(dict(family="mobilenet", alpha=0.25), "graph")
        kept = onnx.load(self.export(checkpoint, "graph-kept", "--keep-batchnorm"))
        ops = [node.op_type for node in kept.graph.node]
        self.assertEqual(ops.count("Conv"), 27)
        self.assertEqual(ops.count("BatchNormalization"), 27)
        self.assertEqual(ops[-3:], ["GlobalAveragePool", "Flatten", "Gemm"])
        groups = [next((a.i for a in node.attribute if a.name == "group"), 1) for node in kept.graph.node
                  if node.op_type == "Conv"]
        self.assertEqual(groups[:4], [1, 8, 1, 16])
        self.assertEqual(kept.opset_import[0].version, 17)
        dims = kept.graph.input[0].type.tensor_type.shape.dim
        self.assertEqual((dims[0].dim_param, [d.dim_value for d in dims[1:]]), ("N", [3, 32, 32]))
        folded = onnx.load(self.export(checkpoint, "graph-folded"))
        self.assertNotIn("BatchNormalization", [node.op_type for node in folded.graph.node])
        names = {t.name for t in folded.graph.initializer}
        self.assertIn("0.weight", names)
        self.assertIn("0.bias", names)  # the folded batch norm's shift

    def test_metadata_records_the_model_its_normalisation_and_cost(self):
        checkpoint, _ = self.checkpoint(dict(family="mobilenet", alpha=0.5), "meta")
        model = onnx.load(self.export(checkpoint, "meta"))
        meta = {p.key: p.value for p in model.metadata_props}
        summary = json.loads(subprocess.run([cli(), "summary", "--model", "mobilenet", "--alpha", "0.5", "--json"],
                                            capture_output=True, text=True, check=True).stdout)
        for key in ("macs", "params", "baseline_macs", "baseline_params"):
            self.assertEqual(int(meta[key]), summary[key], key)
        self.assertEqual(json.loads(meta["mobilenetcpu.model"])["width_multiplier"], 0.5)
        normalization = json.loads(meta["normalization"])
        self.assertEqual(normalization["kind"], "meanstd")
        self.assertFalse(normalization["included_in_graph"])
        self.assertEqual(len(json.loads(meta["class_names"])), 10)
        self.assertEqual(meta["input_layout"], "NCHW")

    def test_nhwc_input_and_normalisation_in_the_graph(self):
        checkpoint, net = self.checkpoint(dict(family="seed"), "raw")
        path = self.export(checkpoint, "raw", "--layout", "nhwc", "--include-normalization")
        meta = {p.key: p.value for p in onnx.load(path).metadata_props}
        normalization = json.loads(meta["normalization"])
        self.assertTrue(normalization["included_in_graph"])
        pixels = np.random.default_rng(6).integers(0, 256, (3, 32, 32, 3)).astype(np.float32)
        scale, shift = np.float32(normalization["scale"]), np.float32(normalization["shift"])
        expected = net.forward(pixels * scale + shift)
        self.assertLess(relative_error(self.run_onnx(path, pixels), expected), 1e-4)


if __name__ == "__main__":
    unittest.main()
