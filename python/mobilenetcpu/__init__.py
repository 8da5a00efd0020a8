"""MobileNetCPU from Python: train and run depthwise-separable CNNs (SeedNet, MobileNet v1) on the
CPU, count their cost against a standard-convolution baseline, and call the engine's convolution
kernels on NumPy arrays.

Arrays are float32 NHWC (images may be NCHW, as `layout` says). C-contiguous float32 arrays are
passed to the engine without a copy; others are converted (one copy), and anything that is not a
real number array is a TypeError. Engine errors are raised as `MobileNetCPUError` with the engine's
message; the process survives every mistake.

    import numpy as np, mobilenetcpu as mnc
    net = mnc.Network("seed", classes=10, seed=1, max_batch=32)
    opt = mnc.Optimizer.adam(net)
    loss, correct = net.train_step(images, labels, opt, lr=1e-3)     # images [n, 32, 32, 3]
    logits = net.forward(images)                                     # [n, 10]
    y = mnc.conv2d(x, w, stride=1, padding=1)                        # x [n, h, w, c], w [o, k, k, c]
"""
import ctypes
import ctypes.util
import os
import subprocess

import numpy as np

__all__ = [
    "MobileNetCPUError", "Network", "Optimizer", "conv2d", "conv2d_backward", "depthwise_conv2d",
    "depthwise_conv2d_backward", "pointwise_conv2d", "pointwise_conv2d_backward", "model_cost", "model_layers",
    "set_threads", "get_threads", "version",
]

# --------------------------------------------------------------------------------------------------
# The library


def _find_library():
    path = os.environ.get("MOBILENETCPU_LIBRARY")
    if path:
        return path
    try:
        libdir = subprocess.run(["pkg-config", "--variable=libdir", "mobilenetcpu"], capture_output=True, text=True,
                                check=True).stdout.strip()
        candidate = os.path.join(libdir, "libmobilenetcpu.so")
        if os.path.exists(candidate):
            return candidate
    except (OSError, subprocess.CalledProcessError):
        pass
    found = ctypes.util.find_library("mobilenetcpu")
    if found:
        return found
    raise ImportError("libmobilenetcpu.so not found: run `make install PREFIX=...` in MobileNetCPU, then set "
                      "MOBILENETCPU_LIBRARY to the .so or PKG_CONFIG_PATH to PREFIX/lib/pkgconfig")


_lib = ctypes.CDLL(_find_library())


class _ModelDesc(ctypes.Structure):
    _fields_ = [("family", ctypes.c_int), ("width_multiplier", ctypes.c_float), ("resolution", ctypes.c_int),
                ("stem", ctypes.c_int), ("classes", ctypes.c_int), ("standard", ctypes.c_int),
                ("output_stride", ctypes.c_int)]


class _Cost(ctypes.Structure):
    _fields_ = [("macs", ctypes.c_int64), ("params", ctypes.c_int64), ("baseline_macs", ctypes.c_int64),
                ("baseline_params", ctypes.c_int64), ("macs_ratio", ctypes.c_double), ("params_ratio", ctypes.c_double)]


class _LayerCost(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * 16), ("kind", ctypes.c_char * 16), ("output", ctypes.c_int32 * 3),
                ("macs", ctypes.c_int64), ("params", ctypes.c_int64)]


class _ConvShape(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int) for name in
                ("n", "height", "width", "in_channels", "out_channels", "kernel", "stride", "padding")]


_float_p = ctypes.POINTER(ctypes.c_float)
_int32_p = ctypes.POINTER(ctypes.c_int32)
_handle_p = ctypes.c_void_p


def _declare(name, *arguments, result=ctypes.c_int):
    function = getattr(_lib, name)
    function.argtypes = list(arguments)
    function.restype = result
    return function


_lib.mnc_version.restype = ctypes.c_char_p
_lib.mnc_last_error.restype = ctypes.c_char_p
_declare("mnc_set_threads", ctypes.c_int)
_declare("mnc_get_threads")
_declare("mnc_model_desc_default", result=_ModelDesc)
_declare("mnc_network_create", ctypes.POINTER(_ModelDesc), ctypes.c_uint64, ctypes.c_int, ctypes.POINTER(_handle_p))
_declare("mnc_network_load", ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(_handle_p))
_declare("mnc_network_save", _handle_p, _handle_p, ctypes.c_char_p)
_declare("mnc_network_free", _handle_p)
_declare("mnc_network_describe", _handle_p, ctypes.POINTER(_ModelDesc), ctypes.POINTER(ctypes.c_int32))
_declare("mnc_network_forward", _handle_p, _float_p, ctypes.c_int, ctypes.c_int, _float_p, ctypes.c_size_t)
_declare("mnc_network_train_step", _handle_p, _float_p, ctypes.c_int, ctypes.c_int, _int32_p, _handle_p, ctypes.c_float,
         ctypes.c_float, _float_p, ctypes.POINTER(ctypes.c_int))
_declare("mnc_network_train_steps", _handle_p, _float_p, ctypes.c_int, ctypes.c_int, _int32_p, _handle_p, ctypes.c_float,
         ctypes.c_int, ctypes.POINTER(ctypes.c_double))
_declare("mnc_optimizer_create_sgd", _handle_p, ctypes.c_float, ctypes.c_int, ctypes.c_float, ctypes.POINTER(_handle_p))
_declare("mnc_optimizer_create_adam", _handle_p, ctypes.c_float, ctypes.c_int, ctypes.POINTER(_handle_p))
_declare("mnc_optimizer_free", _handle_p)
_declare("mnc_optimizer_steps", _handle_p, ctypes.POINTER(ctypes.c_int64))
_declare("mnc_model_cost", ctypes.POINTER(_ModelDesc), ctypes.POINTER(_Cost))
_declare("mnc_model_layers", ctypes.POINTER(_ModelDesc), ctypes.c_int, ctypes.POINTER(_LayerCost), ctypes.c_size_t,
         ctypes.POINTER(ctypes.c_size_t))
_declare("mnc_conv_output_size", ctypes.POINTER(_ConvShape), ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_int32))
_declare("mnc_conv_workspace_size", ctypes.POINTER(_ConvShape), ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_size_t))
for _kind in ("conv2d", "pointwise_conv2d"):
    _declare("mnc_%s_forward" % _kind, ctypes.POINTER(_ConvShape), ctypes.c_int, _float_p, _float_p, _float_p, _float_p,
             _float_p, ctypes.c_size_t)
    _declare("mnc_%s_backward" % _kind, ctypes.POINTER(_ConvShape), ctypes.c_int, _float_p, _float_p, _float_p, _float_p,
             _float_p, _float_p, _float_p, ctypes.c_size_t)
_declare("mnc_depthwise_conv2d_forward", ctypes.POINTER(_ConvShape), _float_p, _float_p, _float_p, _float_p, _float_p,
         ctypes.c_size_t)
_declare("mnc_depthwise_conv2d_backward", ctypes.POINTER(_ConvShape), _float_p, _float_p, _float_p, _float_p, _float_p,
         _float_p, _float_p, ctypes.c_size_t)

# --------------------------------------------------------------------------------------------------
# Errors and arrays


class MobileNetCPUError(RuntimeError):
    """An error the engine reported: `status` is its mnc_status code, the message its sentence."""

    STATUS_NAMES = {1: "invalid argument", 2: "shape mismatch", 3: "corrupt data", 4: "I/O error", 5: "invalid handle",
                    6: "diverged"}

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _check(status):
    if status != 0:
        raise MobileNetCPUError(status, _lib.mnc_last_error().decode("utf-8", "replace"))


def _floats(array, name, ndim=None):
    """`array` as a C-contiguous float32 ndarray (no copy when it already is one)."""
    if array is None:
        raise TypeError("%s is None" % name)
    a = np.asarray(array)
    if a.dtype.kind not in "fiub":
        raise TypeError("%s must be an array of real numbers, got dtype %s" % (name, a.dtype))
    a = np.ascontiguousarray(a, dtype=np.float32)
    if ndim is not None and a.ndim != ndim:
        raise ValueError("%s must have %d dimensions, got shape %s" % (name, ndim, a.shape))
    return a


def _pointer(array):
    return array.ctypes.data_as(_float_p) if array is not None else None


_LAYOUTS = {"NHWC": 0, "NCHW": 1}
_ALGORITHMS = {"auto": 0, "im2col": 1, "direct": 2, "winograd": 3}


def _choice(table, value, name):
    try:
        return table[value]
    except (KeyError, TypeError):
        raise ValueError("%s must be one of %s, got %r" % (name, ", ".join(map(repr, table)), value)) from None


def version():
    """The library's version, "MAJOR.MINOR.PATCH"."""
    return _lib.mnc_version().decode()


def set_threads(threads):
    """Sets the engine's threads for the whole process (1 to 256); results do not depend on it."""
    _check(_lib.mnc_set_threads(int(threads)))


def get_threads():
    """The engine's threads."""
    return _lib.mnc_get_threads()


# --------------------------------------------------------------------------------------------------
# Models


def _desc(family="seed", alpha=1.0, resolution=0, stem="cifar", classes=10, standard=False, output_stride=0):
    return _ModelDesc(family=_choice({"seed": 0, "mobilenet": 1}, family, "family"), width_multiplier=float(alpha),
                      resolution=int(resolution), stem=_choice({"cifar": 0, "imagenet": 1}, stem, "stem"),
                      classes=int(classes), standard=int(bool(standard)), output_stride=int(output_stride))


def model_cost(family="seed", alpha=1.0, resolution=0, stem="cifar", classes=10, output_stride=0):
    """The model's cost for one image beside its standard baseline's, as the MobileNet paper counts
    it: {"macs", "params", "baseline_macs", "baseline_params", "macs_ratio", "params_ratio"}.
    `output_stride` 0 is the stem's (16 with "cifar", 32 with "imagenet")."""
    cost = _Cost()
    desc = _desc(family, alpha, resolution, stem, classes, output_stride=output_stride)
    _check(_lib.mnc_model_cost(ctypes.byref(desc), ctypes.byref(cost)))
    return {name: getattr(cost, name) for name, _ in _Cost._fields_}


def model_layers(family="seed", alpha=1.0, resolution=0, stem="cifar", classes=10, baseline=False, output_stride=0):
    """The model's (or its baseline's) layers with their output shape, MACs and parameters per image."""
    desc = _desc(family, alpha, resolution, stem, classes, output_stride=output_stride)
    count = ctypes.c_size_t()
    _check(_lib.mnc_model_layers(ctypes.byref(desc), int(baseline), None, 0, ctypes.byref(count)))
    rows = (_LayerCost * count.value)()
    _check(_lib.mnc_model_layers(ctypes.byref(desc), int(baseline), rows, count.value, ctypes.byref(count)))
    return [{"name": r.name.decode(), "kind": r.kind.decode(), "output": [v for v in r.output if v], "macs": r.macs,
             "params": r.params} for r in rows]


class Network:
    """A network the engine trains and runs: SeedNet or MobileNet v1 (or their standard baselines),
    for batches of up to `max_batch` images, weights initialised from `seed`. MobileNet's
    `output_stride` (input side over the last maps' side) is the stem's when 0: 16 with "cifar", 32
    with "imagenet"; each halving runs the last stride-2 block at stride 1.

    A network may be used from one thread at a time (calls from two threads wait for each other);
    two networks run in parallel from two threads.
    """

    def __init__(self, family="seed", alpha=1.0, resolution=0, stem="cifar", classes=10, standard=False, seed=0,
                 max_batch=128, output_stride=0, _handle=None):
        self._handle = _handle
        if _handle is None:
            handle = _handle_p()
            desc = _desc(family, alpha, resolution, stem, classes, standard, output_stride)
            _check(_lib.mnc_network_create(ctypes.byref(desc), int(seed), int(max_batch), ctypes.byref(handle)))
            self._handle = handle
        desc, batch = _ModelDesc(), ctypes.c_int32()
        _check(_lib.mnc_network_describe(self._handle, ctypes.byref(desc), ctypes.byref(batch)))
        self.family = ["seed", "mobilenet"][desc.family]
        self.alpha, self.resolution, self.stem = desc.width_multiplier, desc.resolution, ["cifar", "imagenet"][desc.stem]
        self.classes, self.standard, self.max_batch = desc.classes, bool(desc.standard), batch.value
        self.output_stride = desc.output_stride

    @classmethod
    def load(cls, path, max_batch=128):
        """The network a checkpoint (written by `mobilenet train` or `save`) describes, with its weights."""
        handle = _handle_p()
        _check(_lib.mnc_network_load(os.fsencode(path), int(max_batch), ctypes.byref(handle)))
        return cls(_handle=handle)

    def save(self, path, optimizer=None):
        """Writes a checkpoint (safetensors, PyTorch names) atomically, with `optimizer`'s state if given."""
        _check(_lib.mnc_network_save(self._live(), optimizer._live() if optimizer else None, os.fsencode(path)))

    def _live(self):
        if self._handle is None:
            raise MobileNetCPUError(5, "the network was closed")
        return self._handle

    def _images(self, images, layout):
        x = _floats(images, "images", ndim=4)
        side = self.resolution
        expected = (side, side, 3) if layout == "NHWC" else (3, side, side)
        if x.shape[1:] != expected:
            raise ValueError("images must be [n, %s] in %s, got shape %s" % (", ".join(map(str, expected)), layout, x.shape))
        return x

    def forward(self, images, layout="NHWC"):
        """Logits [n, classes] in evaluation mode for n <= max_batch images [n, H, W, 3] (or [n, 3, H, W]).

        The weights are packed once and reused by every call until the next training step."""
        code = _choice(_LAYOUTS, layout, "layout")
        x = self._images(images, layout)
        logits = np.empty((x.shape[0], self.classes), dtype=np.float32)
        _check(_lib.mnc_network_forward(self._live(), _pointer(x), x.shape[0], code, _pointer(logits), logits.size))
        return logits

    def train_step(self, images, labels, optimizer, lr, label_smoothing=0.0, layout="NHWC"):
        """One step of training on a batch: returns (mean loss, number classified correctly)."""
        code = _choice(_LAYOUTS, layout, "layout")
        x = self._images(images, layout)
        if not isinstance(optimizer, Optimizer):
            raise TypeError("optimizer must be an Optimizer, got %s" % type(optimizer).__name__)
        y = np.asarray(labels)
        if y.dtype.kind not in "iu" or y.shape != (x.shape[0],):
            raise ValueError("labels must be %d integers, got %s of shape %s" % (x.shape[0], y.dtype, y.shape))
        y = np.ascontiguousarray(y, dtype=np.int32)
        loss, correct = ctypes.c_float(), ctypes.c_int()
        _check(_lib.mnc_network_train_step(self._live(), _pointer(x), x.shape[0], code, y.ctypes.data_as(_int32_p),
                                           optimizer._live(), float(lr), float(label_smoothing), ctypes.byref(loss),
                                           ctypes.byref(correct)))
        return loss.value, correct.value

    def close(self):
        """Releases the network (also done when it is garbage-collected)."""
        if self._handle is not None:
            _check(_lib.mnc_network_free(self._handle))
            self._handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_handle", None) is not None:
            _lib.mnc_network_free(self._handle)

    def __repr__(self):
        return "Network(%r, alpha=%g, resolution=%d, stem=%r, classes=%d, output_stride=%d%s)" % (
            self.family, self.alpha, self.resolution, self.stem, self.classes, self.output_stride,
            ", standard=True" if self.standard else "")


class Optimizer:
    """An optimizer over one network's parameters: `Optimizer.sgd`, `.adam` or `.adamw`."""

    def __init__(self, handle, network):
        self._handle, self._network = handle, network

    @classmethod
    def sgd(cls, network, momentum=0.9, nesterov=False, weight_decay=0.0):
        """SGD with momentum (Nesterov optionally) and L2 weight decay, as torch.optim.SGD."""
        handle = _handle_p()
        _check(_lib.mnc_optimizer_create_sgd(network._live(), float(momentum), int(bool(nesterov)), float(weight_decay),
                                             ctypes.byref(handle)))
        return cls(handle, network)

    @classmethod
    def adam(cls, network, weight_decay=0.0):
        """Adam with L2 weight decay, as torch.optim.Adam (betas 0.9, 0.999)."""
        handle = _handle_p()
        _check(_lib.mnc_optimizer_create_adam(network._live(), float(weight_decay), 0, ctypes.byref(handle)))
        return cls(handle, network)

    @classmethod
    def adamw(cls, network, weight_decay=0.01):
        """AdamW (decoupled weight decay), as torch.optim.AdamW."""
        handle = _handle_p()
        _check(_lib.mnc_optimizer_create_adam(network._live(), float(weight_decay), 1, ctypes.byref(handle)))
        return cls(handle, network)

    def _live(self):
        if self._handle is None:
            raise MobileNetCPUError(5, "the optimizer was closed")
        return self._handle

    @property
    def steps(self):
        """Steps taken."""
        steps = ctypes.c_int64()
        _check(_lib.mnc_optimizer_steps(self._live(), ctypes.byref(steps)))
        return steps.value

    def close(self):
        """Releases the optimizer (also done when it is garbage-collected)."""
        if self._handle is not None:
            _check(_lib.mnc_optimizer_free(self._handle))
            self._handle = None

    def __del__(self):
        if getattr(self, "_handle", None) is not None:
            _lib.mnc_optimizer_free(self._handle)


# --------------------------------------------------------------------------------------------------
# Kernels


def _shape(x, out_channels, kernel, stride, padding):
    n, h, w, c = x.shape
    return _ConvShape(n, h, w, c, int(out_channels), int(kernel), int(stride), int(padding))


def _output(shape):
    oh, ow = ctypes.c_int32(), ctypes.c_int32()
    _check(_lib.mnc_conv_output_size(ctypes.byref(shape), ctypes.byref(oh), ctypes.byref(ow)))
    return shape.n, oh.value, ow.value, shape.out_channels


def _weights(weight, expected, name="weight"):
    w = _floats(weight, name)
    if w.shape != tuple(expected):
        raise ValueError("%s must have shape %s, got %s" % (name, tuple(expected), w.shape))
    return w


def _bias(bias, channels):
    return None if bias is None else _weights(bias, (channels,), "bias")


def conv2d(x, weight, bias=None, stride=1, padding=0, algorithm="auto"):
    """Standard convolution of x [n, h, w, c] with weight [out, k, k, c] (OHWI) and bias [out]."""
    x = _floats(x, "x", ndim=4)
    w = _floats(weight, "weight", ndim=4)
    shape = _shape(x, w.shape[0], w.shape[1], stride, padding)
    w = _weights(w, (shape.out_channels, shape.kernel, shape.kernel, x.shape[3]))
    b = _bias(bias, shape.out_channels)
    y = np.empty(_output(shape), dtype=np.float32)
    _check(_lib.mnc_conv2d_forward(ctypes.byref(shape), _choice(_ALGORITHMS, algorithm, "algorithm"), _pointer(x), _pointer(w),
                                   _pointer(b), _pointer(y), None, 0))
    return y


def conv2d_backward(x, weight, dy, stride=1, padding=0, bias=True, input_gradient=True, algorithm="auto"):
    """The gradients of `conv2d` for dy: (dx or None, dweight [out, k, k, c], dbias [out] or None)."""
    x = _floats(x, "x", ndim=4)
    w = _floats(weight, "weight", ndim=4)
    shape = _shape(x, w.shape[0], w.shape[1], stride, padding)
    w = _weights(w, (shape.out_channels, shape.kernel, shape.kernel, x.shape[3]))
    dy = _weights(dy, _output(shape), "dy")
    dx = np.empty_like(x) if input_gradient else None
    dw, db = np.empty_like(w), np.empty(shape.out_channels, dtype=np.float32) if bias else None
    _check(_lib.mnc_conv2d_backward(ctypes.byref(shape), _choice(_ALGORITHMS, algorithm, "algorithm"), _pointer(x), _pointer(w),
                                    _pointer(dy), _pointer(dx), _pointer(dw), _pointer(db), None, 0))
    return dx, dw, db


def depthwise_conv2d(x, weight, bias=None, stride=1, padding=1):
    """Depthwise convolution of x [n, h, w, c] with one k×k filter per channel, weight [k, k, c]."""
    x = _floats(x, "x", ndim=4)
    w = _floats(weight, "weight", ndim=3)
    shape = _shape(x, x.shape[3], w.shape[0], stride, padding)
    w = _weights(w, (shape.kernel, shape.kernel, x.shape[3]))
    b = _bias(bias, x.shape[3])
    y = np.empty(_output(shape), dtype=np.float32)
    _check(_lib.mnc_depthwise_conv2d_forward(ctypes.byref(shape), _pointer(x), _pointer(w), _pointer(b), _pointer(y), None, 0))
    return y


def depthwise_conv2d_backward(x, weight, dy, stride=1, padding=1, bias=True, input_gradient=True):
    """The gradients of `depthwise_conv2d`: (dx or None, dweight [k, k, c], dbias [c] or None)."""
    x = _floats(x, "x", ndim=4)
    w = _floats(weight, "weight", ndim=3)
    shape = _shape(x, x.shape[3], w.shape[0], stride, padding)
    w = _weights(w, (shape.kernel, shape.kernel, x.shape[3]))
    dy = _weights(dy, _output(shape), "dy")
    dx = np.empty_like(x) if input_gradient else None
    dw, db = np.empty_like(w), np.empty(x.shape[3], dtype=np.float32) if bias else None
    _check(_lib.mnc_depthwise_conv2d_backward(ctypes.byref(shape), _pointer(x), _pointer(w), _pointer(dy), _pointer(dx),
                                              _pointer(dw), _pointer(db), None, 0))
    return dx, dw, db


def pointwise_conv2d(x, weight, bias=None, algorithm="auto"):
    """Pointwise (1×1) convolution of x [n, h, w, c] with weight [out, c]: one GEMM over the batch."""
    x = _floats(x, "x", ndim=4)
    w = _floats(weight, "weight", ndim=2)
    shape = _shape(x, w.shape[0], 1, 1, 0)
    w = _weights(w, (shape.out_channels, x.shape[3]))
    b = _bias(bias, shape.out_channels)
    y = np.empty(x.shape[:3] + (shape.out_channels,), dtype=np.float32)
    _check(_lib.mnc_pointwise_conv2d_forward(ctypes.byref(shape), _choice(_ALGORITHMS, algorithm, "algorithm"), _pointer(x),
                                             _pointer(w), _pointer(b), _pointer(y), None, 0))
    return y


def pointwise_conv2d_backward(x, weight, dy, bias=True, input_gradient=True, algorithm="auto"):
    """The gradients of `pointwise_conv2d`: (dx or None, dweight [out, c], dbias [out] or None)."""
    x = _floats(x, "x", ndim=4)
    w = _floats(weight, "weight", ndim=2)
    shape = _shape(x, w.shape[0], 1, 1, 0)
    w = _weights(w, (shape.out_channels, x.shape[3]))
    dy = _weights(dy, x.shape[:3] + (shape.out_channels,), "dy")
    dx = np.empty_like(x) if input_gradient else None
    dw, db = np.empty_like(w), np.empty(shape.out_channels, dtype=np.float32) if bias else None
    _check(_lib.mnc_pointwise_conv2d_backward(ctypes.byref(shape), _choice(_ALGORITHMS, algorithm, "algorithm"), _pointer(x),
                                              _pointer(w), _pointer(dy), _pointer(dx), _pointer(dw), _pointer(db), None, 0))
    return dx, dw, db
