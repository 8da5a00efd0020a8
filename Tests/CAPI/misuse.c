/* Every kind of bad call through the C API gives an error status and a message, and the process
 * lives on: null pointers, bad sizes and shapes, handles freed, foreign or of the wrong kind, a
 * corrupt checkpoint. Then the good calls still work. Built and run by `make test` (under
 * AddressSanitizer); prints "ok" and exits 0 when every check holds. */
#include <mobilenetcpu.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

/* The call must return `expected` with a message containing `fragment`. */
static void expect(mnc_status got, mnc_status expected, const char *fragment, const char *what) {
    const char *message = mnc_last_error();
    if (got != expected || (fragment && !strstr(message, fragment))) {
        fprintf(stderr, "FAIL %s: status %d (expected %d), message \"%s\" (expected to contain \"%s\")\n", what, got, expected,
                message, fragment ? fragment : "");
        failures++;
    }
}

#define EXPECT(call, status, fragment) expect((call), (status), (fragment), #call)

int main(int argc, char **argv) {
    const char *scratch = argc > 1 ? argv[1] : "/tmp";
    char path[4096];
    mnc_model_desc desc = mnc_model_desc_default();
    mnc_network *net = NULL, *other = NULL;
    mnc_optimizer *opt = NULL;
    float images[2 * 32 * 32 * 3] = {0}, logits[20];
    int32_t labels[2] = {1, 2};

    /* Models and networks. */
    EXPECT(mnc_network_create(NULL, 1, 2, &net), MNC_INVALID_ARGUMENT, "desc is null");
    EXPECT(mnc_network_create(&desc, 1, 2, NULL), MNC_INVALID_ARGUMENT, "out is null");
    EXPECT(mnc_network_create(&desc, 1, 0, &net), MNC_INVALID_ARGUMENT, "max_batch");
    EXPECT(mnc_network_create(&desc, 1, -5, &net), MNC_INVALID_ARGUMENT, "max_batch");
    mnc_model_desc bad = desc;
    bad.family = 7;
    EXPECT(mnc_network_create(&bad, 1, 2, &net), MNC_INVALID_ARGUMENT, "family");
    bad = desc;
    bad.classes = 1;
    EXPECT(mnc_network_create(&bad, 1, 2, &net), MNC_INVALID_ARGUMENT, "at least 2 classes");
    bad = desc;
    bad.family = MNC_FAMILY_MOBILENET;
    bad.width_multiplier = 1e30f;
    EXPECT(mnc_network_create(&bad, 1, 2, &net), MNC_INVALID_ARGUMENT, "too many channels");
    bad = desc;
    bad.family = MNC_FAMILY_MOBILENET;
    bad.output_stride = 12;
    EXPECT(mnc_network_create(&bad, 1, 2, &net), MNC_INVALID_ARGUMENT, "output stride must be a power of two");
    bad.output_stride = -1;
    EXPECT(mnc_network_create(&bad, 1, 2, &net), MNC_INVALID_ARGUMENT, "output stride must not be negative");
    bad = desc;
    bad.resolution = 100000;
    EXPECT(mnc_network_create(&bad, 1, 2, &net), MNC_INVALID_ARGUMENT, "needs about");
    if (net != NULL) { fprintf(stderr, "FAIL: out was set after an error\n"); failures++; }
    EXPECT(mnc_network_create(&desc, 1, 2, &net), MNC_OK, NULL);
    EXPECT(mnc_network_create(&desc, 2, 2, &other), MNC_OK, NULL);

    /* Forward and training steps. */
    EXPECT(mnc_network_forward(NULL, images, 2, MNC_LAYOUT_NHWC, logits, 20), MNC_INVALID_HANDLE, "network is null");
    EXPECT(mnc_network_forward(net, NULL, 2, MNC_LAYOUT_NHWC, logits, 20), MNC_INVALID_ARGUMENT, "images is null");
    EXPECT(mnc_network_forward(net, images, 3, MNC_LAYOUT_NHWC, logits, 30), MNC_INVALID_ARGUMENT, "max_batch");
    EXPECT(mnc_network_forward(net, images, 0, MNC_LAYOUT_NHWC, logits, 20), MNC_INVALID_ARGUMENT, "n must be");
    EXPECT(mnc_network_forward(net, images, 2, 9, logits, 20), MNC_INVALID_ARGUMENT, "layout");
    EXPECT(mnc_network_forward(net, images, 2, MNC_LAYOUT_NHWC, logits, 19), MNC_SHAPE_MISMATCH, "logits_count");
    EXPECT(mnc_network_forward(net, images, 2, MNC_LAYOUT_NCHW, logits, 20), MNC_OK, NULL);
    EXPECT(mnc_optimizer_create_sgd(net, 1.5f, 0, 0, &opt), MNC_INVALID_ARGUMENT, "momentum");
    EXPECT(mnc_optimizer_create_sgd(net, 0.0f, 1, 0, &opt), MNC_INVALID_ARGUMENT, "Nesterov");
    EXPECT(mnc_optimizer_create_sgd(net, 0.9f, 0, -1, &opt), MNC_INVALID_ARGUMENT, "weight_decay");
    EXPECT(mnc_optimizer_create_sgd(net, 0.9f, 1, 5e-4f, &opt), MNC_OK, NULL);
    labels[1] = 10;
    EXPECT(mnc_network_train_step(net, images, 2, MNC_LAYOUT_NHWC, labels, opt, 0.1f, 0, NULL, NULL), MNC_INVALID_ARGUMENT, "label 10");
    labels[1] = 2;
    EXPECT(mnc_network_train_step(net, images, 2, MNC_LAYOUT_NHWC, NULL, opt, 0.1f, 0, NULL, NULL), MNC_INVALID_ARGUMENT, "labels is null");
    EXPECT(mnc_network_train_step(net, images, 2, MNC_LAYOUT_NHWC, labels, opt, -1.0f, 0, NULL, NULL), MNC_INVALID_ARGUMENT, "learning_rate");
    EXPECT(mnc_network_train_step(net, images, 2, MNC_LAYOUT_NHWC, labels, opt, 0.1f, 1.5f, NULL, NULL), MNC_INVALID_ARGUMENT, "smoothing");
    EXPECT(mnc_network_train_step(other, images, 2, MNC_LAYOUT_NHWC, labels, opt, 0.1f, 0, NULL, NULL), MNC_INVALID_ARGUMENT,
           "another network");
    /* Handles of the wrong kind, foreign pointers. */
    EXPECT(mnc_network_forward((mnc_network *)opt, images, 2, MNC_LAYOUT_NHWC, logits, 20), MNC_INVALID_HANDLE, "another kind");
    EXPECT(mnc_network_train_step(net, images, 2, MNC_LAYOUT_NHWC, labels, (mnc_optimizer *)net, 0.1f, 0, NULL, NULL),
           MNC_INVALID_HANDLE, "another kind");
    EXPECT(mnc_network_forward((mnc_network *)images, images, 2, MNC_LAYOUT_NHWC, logits, 20), MNC_INVALID_HANDLE, "not a live handle");
    float loss = -1;
    int correct = -1;
    EXPECT(mnc_network_train_step(net, images, 2, MNC_LAYOUT_NHWC, labels, opt, 0.1f, 0, &loss, &correct), MNC_OK, NULL);
    if (!(loss > 0) || correct < 0) { fprintf(stderr, "FAIL: loss %f, correct %d\n", loss, correct); failures++; }
    if (strcmp(mnc_last_error(), "") != 0) { fprintf(stderr, "FAIL: last error not cleared: %s\n", mnc_last_error()); failures++; }

    double seconds = -1;
    EXPECT(mnc_network_train_steps(net, images, 2, MNC_LAYOUT_NHWC, labels, opt, 0.1f, 0, &seconds), MNC_INVALID_ARGUMENT, "steps");
    EXPECT(mnc_network_train_steps(net, NULL, 2, MNC_LAYOUT_NHWC, labels, opt, 0.1f, 2, &seconds), MNC_INVALID_ARGUMENT, "images is null");
    EXPECT(mnc_network_train_steps(other, images, 2, MNC_LAYOUT_NHWC, labels, opt, 0.1f, 2, &seconds), MNC_INVALID_ARGUMENT,
           "another network");
    EXPECT(mnc_network_train_steps(net, images, 2, MNC_LAYOUT_NHWC, labels, opt, 0.1f, 2, &seconds), MNC_OK, NULL);
    if (!(seconds > 0)) { fprintf(stderr, "FAIL: train_steps took %f s\n", seconds); failures++; }

    /* Checkpoints: an unwritable path, a corrupt file. */
    EXPECT(mnc_network_save(net, opt, "/nonexistent/folder/x.safetensors"), MNC_IO_ERROR, "x.safetensors");
    EXPECT(mnc_network_save(net, opt, NULL), MNC_INVALID_ARGUMENT, "path is null");
    EXPECT(mnc_network_save(other, opt, "/tmp/x.safetensors"), MNC_INVALID_ARGUMENT, "another network");
    snprintf(path, sizeof path, "%s/corrupt.safetensors", scratch);
    FILE *f = fopen(path, "wb");
    fputs("not a checkpoint at all", f);
    fclose(f);
    mnc_network *loaded = NULL;
    EXPECT(mnc_network_load(path, 2, &loaded), MNC_CORRUPT_DATA, "corrupt.safetensors");
    EXPECT(mnc_network_load("/nonexistent.safetensors", 2, &loaded), MNC_IO_ERROR, "nonexistent");
    snprintf(path, sizeof path, "%s/good.safetensors", scratch);
    EXPECT(mnc_network_save(net, opt, path), MNC_OK, NULL);
    EXPECT(mnc_network_load(path, 2, &loaded), MNC_OK, NULL);
    float again[20];
    EXPECT(mnc_network_forward(net, images, 2, MNC_LAYOUT_NHWC, logits, 20), MNC_OK, NULL);
    EXPECT(mnc_network_forward(loaded, images, 2, MNC_LAYOUT_NHWC, again, 20), MNC_OK, NULL);
    if (memcmp(logits, again, sizeof logits) != 0) { fprintf(stderr, "FAIL: a loaded network gives other logits\n"); failures++; }

    /* Cost. */
    mnc_cost cost;
    EXPECT(mnc_model_cost(NULL, &cost), MNC_INVALID_ARGUMENT, "desc is null");
    size_t count = 0;
    EXPECT(mnc_model_layers(&desc, 0, NULL, 5, &count), MNC_INVALID_ARGUMENT, "layers is null");
    EXPECT(mnc_model_layers(&desc, 0, NULL, 0, &count), MNC_OK, NULL);
    if (count != 23) { fprintf(stderr, "FAIL: SeedNet has 23 layers, got %zu\n", count); failures++; }
    mnc_layer_cost rows[4];
    EXPECT(mnc_model_layers(&desc, 1, rows, 4, &count), MNC_OK, NULL);
    if (count != 15 || strcmp(rows[0].kind, "conv") != 0 || rows[0].macs != 884736) {
        fprintf(stderr, "FAIL: baseline layers %zu, first %s %lld\n", count, rows[0].kind, (long long)rows[0].macs);
        failures++;
    }

    /* Kernels: impossible shapes, null buffers, a workspace too small. */
    float x[2 * 5 * 5 * 4], w[6 * 3 * 3 * 4], y[2 * 5 * 5 * 6], ws[4];
    memset(x, 0, sizeof x);
    memset(w, 0, sizeof w);
    mnc_conv_shape shape = {2, 5, 5, 4, 6, 3, 1, 1};
    mnc_conv_shape huge = {2, 5, 5, 4, 6, 9, 1, 0};
    EXPECT(mnc_conv2d_forward(&huge, 0, x, w, NULL, y, NULL, 0), MNC_SHAPE_MISMATCH, "larger than the padded input");
    mnc_conv_shape negative = {2, 5, 5, -4, 6, 3, 1, 1};
    EXPECT(mnc_conv2d_forward(&negative, 0, x, w, NULL, y, NULL, 0), MNC_INVALID_ARGUMENT, "in_channels");
    mnc_conv_shape overflow = {2147483647, 2147483647, 2147483647, 2147483647, 6, 3, 1, 1};
    EXPECT(mnc_conv2d_forward(&overflow, 0, x, w, NULL, y, NULL, 0), MNC_INVALID_ARGUMENT, "memory");
    mnc_conv_shape elements = {2147483647, 2147483647, 2147483647, 4, 6, 3, 1, 1};
    EXPECT(mnc_conv2d_forward(&elements, 0, x, w, NULL, y, NULL, 0), MNC_INVALID_ARGUMENT, "too many elements");
    EXPECT(mnc_conv2d_forward(&shape, 0, NULL, w, NULL, y, NULL, 0), MNC_INVALID_ARGUMENT, "x is null");
    EXPECT(mnc_conv2d_forward(&shape, 9, x, w, NULL, y, NULL, 0), MNC_INVALID_ARGUMENT, "algorithm");
    size_t need = 0;
    EXPECT(mnc_conv_workspace_size(&shape, 0, MNC_ALGORITHM_IM2COL, &need), MNC_OK, NULL);
    if (need > 4) EXPECT(mnc_conv2d_forward(&shape, MNC_ALGORITHM_IM2COL, x, w, NULL, y, ws, 4), MNC_SHAPE_MISMATCH, "workspace_floats");
    EXPECT(mnc_conv2d_forward(&shape, 0, x, w, NULL, y, NULL, 0), MNC_OK, NULL);
    mnc_conv_shape mismatch = {2, 5, 5, 4, 5, 3, 1, 1};
    EXPECT(mnc_depthwise_conv2d_forward(&mismatch, x, w, NULL, y, NULL, 0), MNC_SHAPE_MISMATCH, "in_channels = out_channels");
    EXPECT(mnc_set_threads(0), MNC_INVALID_ARGUMENT, "threads");
    EXPECT(mnc_set_threads(100000), MNC_INVALID_ARGUMENT, "threads");

    /* Freeing: twice, the wrong kind, null. */
    EXPECT(mnc_optimizer_free((mnc_optimizer *)net), MNC_INVALID_HANDLE, "another kind");
    EXPECT(mnc_optimizer_free(opt), MNC_OK, NULL);
    EXPECT(mnc_optimizer_free(opt), MNC_INVALID_HANDLE, "not a live handle");
    EXPECT(mnc_network_free(net), MNC_OK, NULL);
    EXPECT(mnc_network_free(net), MNC_INVALID_HANDLE, "not a live handle");
    EXPECT(mnc_network_forward(net, images, 2, MNC_LAYOUT_NHWC, logits, 20), MNC_INVALID_HANDLE, "not a live handle");
    EXPECT(mnc_network_free(NULL), MNC_OK, NULL);
    mnc_network_free(other);
    mnc_network_free(loaded);

    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
