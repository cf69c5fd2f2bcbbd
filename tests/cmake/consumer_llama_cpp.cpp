// SPDX-License-Identifier: Apache-2.0
// reckon::llama_cpp as a consumer uses it: linked against the consumer's llama.cpp, a model file
// that does not exist is a clean engine_failure.
#include <reckon/adapters/llama_cpp.hpp>

bool reckon_consumer_llama_cpp() {
  const auto loaded = reckon::llama_cpp::load_model("/nonexistent/reckon-consumer.gguf");
  return !loaded && loaded.error().code == reckon::errc::engine_failure;
}
