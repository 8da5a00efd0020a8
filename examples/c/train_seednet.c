/* Trains SeedNet for a few steps on random images through the C API, then prints the model's cost
 * beside its standard-convolution baseline.
 *
 *     cc train_seednet.c $(pkg-config --cflags --libs mobilenetcpu) -o train_seednet && ./train_seednet
 */
#include <mobilenetcpu.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(call)                                                                     \
    do {                                                                                \
        if ((call) != MNC_OK) {                                                         \
            fprintf(stderr, "%s failed: %s\n", #call, mnc_last_error());               \
            return 1;                                                                   \
        }                                                                               \
    } while (0)

int main(void) {
    enum { BATCH = 16, SIDE = 32, STEPS = 20 };
    mnc_model_desc desc = mnc_model_desc_default(); /* SeedNet, CIFAR-10 */
    mnc_network *net = NULL;
    mnc_optimizer *opt = NULL;
    CHECK(mnc_network_create(&desc, 1, BATCH, &net));
    CHECK(mnc_optimizer_create_adam(net, 0.0f, 0, &opt));

    /* A batch the network can learn: the label is the brightest quarter of the image. */
    float *images = malloc(sizeof(float) * BATCH * SIDE * SIDE * 3);
    int32_t labels[BATCH];
    srand(7);
    for (int i = 0; i < BATCH; i++) {
        labels[i] = i % 4;
        for (int p = 0; p < SIDE * SIDE * 3; p++) {
            int y = p / (SIDE * 3), x = p / 3 % SIDE, quarter = (y >= SIDE / 2) * 2 + (x >= SIDE / 2);
            images[i * SIDE * SIDE * 3 + p] = (quarter == labels[i] ? 0.8f : -0.5f) + 0.2f * rand() / RAND_MAX;
        }
    }
    float loss = 0;
    int correct = 0;
    for (int step = 1; step <= STEPS; step++) {
        CHECK(mnc_network_train_step(net, images, BATCH, MNC_LAYOUT_NHWC, labels, opt, 2e-3f, 0.0f, &loss, &correct));
        if (step % 5 == 0) printf("step %2d  loss %.4f  correct %d/%d\n", step, loss, correct, BATCH);
    }

    mnc_cost cost;
    CHECK(mnc_model_cost(&desc, &cost));
    printf("SeedNet: %lld MACs, %lld parameters; standard baseline: %lld MACs, %lld parameters; MACs ratio %.3f\n",
           (long long)cost.macs, (long long)cost.params, (long long)cost.baseline_macs, (long long)cost.baseline_params,
           cost.macs_ratio);
    printf("mobilenetcpu %s\n", mnc_version());
    mnc_optimizer_free(opt);
    mnc_network_free(net);
    free(images);
    return 0;
}
