/* The cost of the C boundary: a training step called from C (a loop of mnc_network_train_step)
 * against the same step called from Swift (mnc_network_train_steps, the loop inside the library),
 * on one network and one batch, in alternating rounds; prints the medians and their ratio.
 *
 *     make bench-boundary        (or: cc boundary.c $(pkg-config --cflags --libs mobilenetcpu))
 *     ./boundary [batch [rounds [steps per round [model: seed | mobilenet]]]]
 */
#include <mobilenetcpu.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(call)                                                        \
    do {                                                                   \
        if ((call) != MNC_OK) {                                            \
            fprintf(stderr, "%s failed: %s\n", #call, mnc_last_error()); \
            exit(1);                                                       \
        }                                                                  \
    } while (0)

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv) {
    int batch = argc > 1 ? atoi(argv[1]) : 128, rounds = argc > 2 ? atoi(argv[2]) : 9,
        steps = argc > 3 ? atoi(argv[3]) : 5;
    mnc_model_desc desc = mnc_model_desc_default();
    if (argc > 4 && strcmp(argv[4], "mobilenet") == 0) desc.family = MNC_FAMILY_MOBILENET;
    if (batch < 1 || rounds < 1 || steps < 1) {
        fprintf(stderr, "usage: %s [batch [rounds [steps per round [seed|mobilenet]]]]\n", argv[0]);
        return 2;
    }
    mnc_network *net;
    mnc_optimizer *opt;
    CHECK(mnc_network_create(&desc, 1, batch, &net));
    CHECK(mnc_optimizer_create_sgd(net, 0.9f, 0, 5e-4f, &opt));
    size_t size = (size_t)batch * 32 * 32 * 3;
    float *images = malloc(size * sizeof(float));
    int32_t *labels = malloc(batch * sizeof(int32_t));
    srand(3);
    for (size_t i = 0; i < size; i++) images[i] = 2.0f * rand() / RAND_MAX - 1;
    for (int i = 0; i < batch; i++) labels[i] = i % 10;

    double *swift = malloc(rounds * sizeof(double)), *c = malloc(rounds * sizeof(double)), seconds;
    CHECK(mnc_network_train_steps(net, images, batch, MNC_LAYOUT_NHWC, labels, opt, 1e-3f, steps, &seconds));
    for (int r = 0; r < rounds; r++) {
        CHECK(mnc_network_train_steps(net, images, batch, MNC_LAYOUT_NHWC, labels, opt, 1e-3f, steps, &seconds));
        swift[r] = seconds / steps;
        double start = now();
        for (int s = 0; s < steps; s++)
            CHECK(mnc_network_train_step(net, images, batch, MNC_LAYOUT_NHWC, labels, opt, 1e-3f, 0.0f, NULL, NULL));
        c[r] = (now() - start) / steps;
    }
    double ms = 1e3 * median(swift, rounds), mc = 1e3 * median(c, rounds);
    printf("%s batch %d, %d threads, medians of %d rounds of %d steps: from Swift %.3f ms/step, from C %.3f ms/step, "
           "C / Swift %.4f\n",
           desc.family == MNC_FAMILY_SEED ? "SeedNet" : "MobileNet", batch, mnc_get_threads(), rounds, steps, ms, mc,
           mc / ms);
    mnc_optimizer_free(opt);
    mnc_network_free(net);
    free(images), free(labels), free(swift), free(c);
    return 0;
}
