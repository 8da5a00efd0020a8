/*
 * mobilenetcpu.h — the C API of MobileNetCPU: train and run depthwise-separable CNNs (SeedNet,
 * MobileNet v1) on the CPU, count their cost against a standard-convolution baseline, and call the
 * engine's convolution kernels on your own buffers. C99; usable from C++ unchanged.
 *
 * Conventions
 * - Every function returns an mnc_status; MNC_OK is 0. On any other status, mnc_last_error() gives
 *   a sentence naming the problem, for the calling thread, until that thread's next call.
 * - No call can crash or abort the process on bad input: null pointers, sizes, shapes, handles of the
 *   wrong kind and freed handles are detected and reported (a handle is checked against the live
 *   handles of its kind; the address of a freed handle may be reused only by a later create).
 * - Handles (mnc_network, mnc_optimizer) are opaque, created by mnc_*_create or _load and released
 *   by mnc_*_free. Every buffer is owned by the caller and only read or written during the call.
 * - Activations are float32, NHWC unless a layout says otherwise; kernel weights are the engine's
 *   layouts (documented per function). Sizes are in elements.
 * - Thread safety: calls on different networks (and their optimizers) may run at the same time on
 *   different threads; calls on one network must not overlap. The kernels are thread-safe. The
 *   engine's thread pool is process-wide (mnc_set_threads); calls made while it is busy run their
 *   work on the calling thread, with the same results.
 * - Results are the same bits for any thread count.
 *
 * Link with:  cc prog.c $(pkg-config --cflags --libs mobilenetcpu)
 */
#ifndef MOBILENETCPU_H
#define MOBILENETCPU_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MNC_VERSION_MAJOR 0
#define MNC_VERSION_MINOR 3
#define MNC_VERSION_PATCH 0

/** The library's version, "MAJOR.MINOR.PATCH". */
const char *mnc_version(void);

/* ---------------------------------------------------------------------------------------------- */
/* Status and errors                                                                               */

typedef enum {
    MNC_OK = 0,
    /** An argument is out of range: a null pointer, a negative size, a bad hyper-parameter. */
    MNC_INVALID_ARGUMENT = 1,
    /** Shapes or sizes do not fit together (a buffer too small, a channel mismatch). */
    MNC_SHAPE_MISMATCH = 2,
    /** A file or buffer is malformed (a corrupt checkpoint). */
    MNC_CORRUPT_DATA = 3,
    /** A file cannot be read or written. */
    MNC_IO_ERROR = 4,
    /** A handle that is null, freed, or of another kind. */
    MNC_INVALID_HANDLE = 5,
    /** The loss became NaN or infinite: the model diverged. */
    MNC_DIVERGED = 6
} mnc_status;

/** The last error of the calling thread (an empty string after a successful call). Valid until the
 *  thread's next call into the library; never null. */
const char *mnc_last_error(void);

/** Sets the engine's threads for the whole process (1 to 256; results do not depend on it). */
mnc_status mnc_set_threads(int threads);

/** The engine's threads. */
int mnc_get_threads(void);

/* ---------------------------------------------------------------------------------------------- */
/* Models                                                                                          */

typedef enum { MNC_FAMILY_SEED = 0, MNC_FAMILY_MOBILENET = 1 } mnc_family;
typedef enum { MNC_STEM_CIFAR = 0, MNC_STEM_IMAGENET = 1 } mnc_stem;
typedef enum { MNC_LAYOUT_NHWC = 0, MNC_LAYOUT_NCHW = 1 } mnc_layout;

/** What defines a model. Start from mnc_model_desc_default() and change what you need. */
typedef struct {
    int family;               /**< mnc_family */
    float width_multiplier;   /**< MobileNet's alpha (1 for SeedNet) */
    int resolution;           /**< input side in pixels; 0 for the default (32, or 224 with the ImageNet stem) */
    int stem;                 /**< mnc_stem (MobileNet) */
    int classes;              /**< at least 2 */
    int standard;             /**< nonzero: the standard-convolution baseline instead */
    int output_stride;        /**< MobileNet's input side over its last maps' side, a power of two; 0 for
                                   the stem's (16, or 32 with the ImageNet stem); 0 for SeedNet */
} mnc_model_desc;

/** SeedNet for CIFAR-10: family SEED, alpha 1, resolution 0, stem CIFAR, 10 classes, separable, output
 *  stride 0. */
mnc_model_desc mnc_model_desc_default(void);

typedef struct mnc_network mnc_network;
typedef struct mnc_optimizer mnc_optimizer;

/** Builds a network for batches of up to `max_batch` images, weights initialised from `seed` (the
 *  family's published initialisation). Refused, before allocating, when it would not fit in memory. */
mnc_status mnc_network_create(const mnc_model_desc *desc, uint64_t seed, int max_batch, mnc_network **out);

/** Builds the network a checkpoint (a safetensors file written by the CLI or mnc_network_save)
 *  describes and loads its weights. */
mnc_status mnc_network_load(const char *path, int max_batch, mnc_network **out);

/** Writes a checkpoint atomically: the weights (PyTorch names and layouts) and, when `optimizer` is
 *  not null, its state, so that training can resume from it. */
mnc_status mnc_network_save(const mnc_network *network, const mnc_optimizer *optimizer, const char *path);

/** Releases a network. Null is allowed; a handle already freed is reported. */
mnc_status mnc_network_free(mnc_network *network);

/** The model a network is, and the largest batch it takes. */
mnc_status mnc_network_describe(const mnc_network *network, mnc_model_desc *desc, int *max_batch);

/** Logits [n, classes] for n images (float32, [n, H, W, 3] NHWC or [n, 3, H, W] NCHW as `layout`
 *  says; n <= max_batch), in evaluation mode (batch norm's running statistics). `logits_count` is
 *  the room in `logits`, at least n * classes. The first call after creating the network or after a
 *  training step packs the weights for the engine's GEMM, and later calls reuse that copy until the
 *  next training step (as an inference runtime packs a model when it loads it). */
mnc_status mnc_network_forward(mnc_network *network, const float *images, int n, int layout,
                               float *logits, size_t logits_count);

/** One training step on n images and their labels (0 <= label < classes): forward in training mode,
 *  softmax cross-entropy (with `label_smoothing`), backward, the optimizer's update at
 *  `learning_rate`. Writes the batch's mean loss and the number classified correctly (either may be
 *  null). */
mnc_status mnc_network_train_step(mnc_network *network, const float *images, int n, int layout,
                                  const int32_t *labels, mnc_optimizer *optimizer, float learning_rate,
                                  float label_smoothing, float *loss, int *correct);

/** `steps` training steps on the same batch, looped inside the library: the step of
 *  mnc_network_train_step (label smoothing 0) without crossing the boundary each time. For measuring
 *  what the boundary costs: time your own loop of mnc_network_train_step beside it. Writes the
 *  seconds the loop took (may be null). */
mnc_status mnc_network_train_steps(mnc_network *network, const float *images, int n, int layout,
                                   const int32_t *labels, mnc_optimizer *optimizer, float learning_rate, int steps,
                                   double *seconds);

/** An SGD optimizer over the network's parameters: `momentum` in [0, 1), Nesterov when nonzero
 *  (needs momentum > 0), L2 `weight_decay` >= 0. The optimizer belongs to that network. */
mnc_status mnc_optimizer_create_sgd(mnc_network *network, float momentum, int nesterov, float weight_decay,
                                    mnc_optimizer **out);

/** Adam (decoupled = 0, L2 `weight_decay`) or AdamW (decoupled nonzero) with PyTorch's defaults
 *  (betas 0.9, 0.999, eps 1e-8). */
mnc_status mnc_optimizer_create_adam(mnc_network *network, float weight_decay, int decoupled, mnc_optimizer **out);

/** Releases an optimizer (before or after its network). Null is allowed. */
mnc_status mnc_optimizer_free(mnc_optimizer *optimizer);

/** Steps the optimizer has taken. */
mnc_status mnc_optimizer_steps(const mnc_optimizer *optimizer, int64_t *steps);

/* ---------------------------------------------------------------------------------------------- */
/* Cost, as the MobileNet paper counts it (MACs of convolutions and fully connected layers; their  */
/* weights and biases as parameters; FLOPs = 2 x MACs), for one image, from shapes alone.          */

typedef struct {
    int64_t macs, params;                    /**< the separable model */
    int64_t baseline_macs, baseline_params;  /**< its standard-convolution baseline */
    double macs_ratio, params_ratio;         /**< model / baseline */
} mnc_cost;

typedef struct {
    char name[16];        /**< the nn.Sequential index ("3") */
    char kind[16];        /**< "conv", "dw", "pw", "bn", "relu", "maxpool", "gap", "flatten", "fc" */
    int32_t output[3];    /**< output shape of one image: H, W, C (or features, 0, 0) */
    int64_t macs, params;
} mnc_layer_cost;

/** The model's cost beside its baseline's. */
mnc_status mnc_model_cost(const mnc_model_desc *desc, mnc_cost *out);

/** The layers of the model (`baseline` zero) or of its baseline: writes up to `capacity` rows and
 *  the number of layers in `count` (call with capacity 0 to size the array). */
mnc_status mnc_model_layers(const mnc_model_desc *desc, int baseline, mnc_layer_cost *layers, size_t capacity,
                            size_t *count);

/* ---------------------------------------------------------------------------------------------- */
/* Kernels on your buffers (NHWC float32). `algorithm`: 0 auto, 1 im2col (plain lowering), 2 direct,  */
/* 3 winograd (each where it applies, im2col elsewhere). Gradients are overwritten, not added to.   */
/* `workspace`: scratch of `workspace_floats` floats (at least mnc_conv_workspace_size), or null for */
/* the library to allocate it for the call.                                                       */

typedef enum { MNC_ALGORITHM_AUTO = 0, MNC_ALGORITHM_IM2COL = 1, MNC_ALGORITHM_DIRECT = 2, MNC_ALGORITHM_WINOGRAD = 3 } mnc_algorithm;

/** A convolution's shape: input [n, height, width, in_channels], `out_channels` filters of
 *  kernel x kernel, stride, zero padding. Output [n, (height + 2 padding - kernel) / stride + 1, …]. */
typedef struct {
    int n, height, width, in_channels, out_channels, kernel, stride, padding;
} mnc_conv_shape;

/** Output height and width of a convolution (or depthwise convolution) shape. */
mnc_status mnc_conv_output_size(const mnc_conv_shape *shape, int *out_height, int *out_width);

/** Standard convolution, y = conv(x, weight) + bias. weight: OHWI [out, kernel, kernel, in]; bias
 *  [out] or null. */
mnc_status mnc_conv2d_forward(const mnc_conv_shape *shape, int algorithm, const float *x, const float *weight,
                              const float *bias, float *y,
    float *workspace, size_t workspace_floats);

/** Its gradients for dy [n, out_h, out_w, out]: dx (null to skip), dweight (OHWI), dbias (null to skip). */
mnc_status mnc_conv2d_backward(const mnc_conv_shape *shape, int algorithm, const float *x, const float *weight,
                               const float *dy, float *dx, float *dweight, float *dbias,
    float *workspace, size_t workspace_floats);

/** Depthwise convolution (one kernel x kernel filter per channel; in_channels = out_channels).
 *  weight: [kernel, kernel, channels]; bias [channels] or null. */
mnc_status mnc_depthwise_conv2d_forward(const mnc_conv_shape *shape, const float *x, const float *weight,
                                        const float *bias, float *y,
    float *workspace, size_t workspace_floats);
mnc_status mnc_depthwise_conv2d_backward(const mnc_conv_shape *shape, const float *x, const float *weight,
                                         const float *dy, float *dx, float *dweight, float *dbias,
    float *workspace, size_t workspace_floats);

/** Pointwise (1x1) convolution: one GEMM over the whole batch (or the direct kernels, as
 *  `algorithm` says). weight: [out, in]; bias [out] or null. kernel, stride and padding are ignored. */
mnc_status mnc_pointwise_conv2d_forward(const mnc_conv_shape *shape, int algorithm, const float *x, const float *weight,
                                        const float *bias, float *y,
    float *workspace, size_t workspace_floats);
mnc_status mnc_pointwise_conv2d_backward(const mnc_conv_shape *shape, int algorithm, const float *x,
                                         const float *weight, const float *dy, float *dx, float *dweight, float *dbias,
    float *workspace, size_t workspace_floats);

/** Floats of scratch a kernel call of this shape needs (for `workspace`). `kind`: 0 standard,
 *  1 depthwise, 2 pointwise. */
mnc_status mnc_conv_workspace_size(const mnc_conv_shape *shape, int kind, int algorithm, size_t *floats);

#ifdef __cplusplus
}
#endif

#endif
