// SPDX-License-Identifier: Apache-2.0
// The llama.cpp tests' model: the GGUF file named by RECKON_TEST_GGUF, loaded once per test binary.
#pragma once

#include <reckon/adapters/llama_cpp.hpp>

#include <cstdlib>
#include <utility>

namespace reckon::test {

/// The test model (llama.cpp's log silenced), or nullptr when RECKON_TEST_GGUF is unset or the
/// file does not load: the real-model cases then warn and skip.
inline const llama_cpp::model_ptr* llama_test_model() {
  static const llama_cpp::model_ptr model = [] {
    const char* path = std::getenv("RECKON_TEST_GGUF");
    if (path == nullptr) return llama_cpp::model_ptr{};
    llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
    auto m = llama_cpp::load_model(path);
    return m ? std::move(*m) : llama_cpp::model_ptr{};
  }();
  return model ? &model : nullptr;
}

} // namespace reckon::test
