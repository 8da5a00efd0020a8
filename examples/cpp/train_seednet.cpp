// Trains SeedNet for a few steps on random images through the C API from C++, with RAII handles,
// then prints the model's cost beside its standard-convolution baseline.
//
//     c++ -std=c++17 train_seednet.cpp $(pkg-config --cflags --libs mobilenetcpu) -o train_seednet_cpp && ./train_seednet_cpp
#include <mobilenetcpu.h>

#include <cstdio>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

void check(mnc_status status, const char *what) {
    if (status != MNC_OK) throw std::runtime_error(std::string(what) + ": " + mnc_last_error());
}

struct NetworkDeleter { void operator()(mnc_network *n) const { mnc_network_free(n); } };
struct OptimizerDeleter { void operator()(mnc_optimizer *o) const { mnc_optimizer_free(o); } };

}  // namespace

int main() try {
    constexpr int batch = 16, side = 32, steps = 20;
    mnc_model_desc desc = mnc_model_desc_default();
    mnc_network *raw_net = nullptr;
    check(mnc_network_create(&desc, 1, batch, &raw_net), "mnc_network_create");
    std::unique_ptr<mnc_network, NetworkDeleter> net(raw_net);
    mnc_optimizer *raw_opt = nullptr;
    check(mnc_optimizer_create_sgd(net.get(), 0.9f, 1, 5e-4f, &raw_opt), "mnc_optimizer_create_sgd");
    std::unique_ptr<mnc_optimizer, OptimizerDeleter> opt(raw_opt);

    std::mt19937 rng(7);
    std::normal_distribution<float> noise(0.0f, 0.2f);
    std::vector<float> images(batch * side * side * 3);
    std::vector<int32_t> labels(batch);
    for (int i = 0; i < batch; i++) {
        labels[i] = i % 2;
        for (int p = 0; p < side * side * 3; p++) {
            int x = p / 3 % side;
            images[i * side * side * 3 + p] = ((x < side / 2) == (labels[i] == 0) ? 0.7f : -0.7f) + noise(rng);
        }
    }
    float loss = 0;
    int correct = 0;
    for (int step = 1; step <= steps; step++) {
        check(mnc_network_train_step(net.get(), images.data(), batch, MNC_LAYOUT_NHWC, labels.data(), opt.get(), 0.02f, 0.0f,
                                     &loss, &correct),
              "mnc_network_train_step");
        if (step % 5 == 0) std::printf("step %2d  loss %.4f  correct %d/%d\n", step, loss, correct, batch);
    }
    mnc_cost cost;
    check(mnc_model_cost(&desc, &cost), "mnc_model_cost");
    std::printf("SeedNet: %lld MACs, %lld parameters; standard baseline: %lld MACs, %lld parameters; MACs ratio %.3f\n",
                static_cast<long long>(cost.macs), static_cast<long long>(cost.params), static_cast<long long>(cost.baseline_macs),
                static_cast<long long>(cost.baseline_params), cost.macs_ratio);
    return 0;
} catch (const std::exception &e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
}
