// SPDX-License-Identifier: Apache-2.0
// The find_package(reckon COMPONENTS ...) consumer: runs the check of each component it was built
// with (RECKON_CONSUMER_<COMPONENT>, one source file each) and names them.
#include <reckon/version.hpp>

#include <cstdio>
#include <string>

bool reckon_consumer_eval();
bool reckon_consumer_openai();
bool reckon_consumer_llama_cpp();
bool reckon_consumer_cbc();

int main() {
  std::string checked;
  const auto check = [&](bool ok, const char* name) {
    if (!ok) std::printf("reckon component %s failed its check\n", name);
    checked += checked.empty() ? name : std::string(", ") + name;
    return ok;
  };
  bool ok = true;
#if defined(RECKON_CONSUMER_EVAL)
  ok = check(reckon_consumer_eval(), "eval") && ok;
#endif
#if defined(RECKON_CONSUMER_OPENAI)
  ok = check(reckon_consumer_openai(), "openai") && ok;
#endif
#if defined(RECKON_CONSUMER_LLAMA_CPP)
  ok = check(reckon_consumer_llama_cpp(), "llama_cpp") && ok;
#endif
#if defined(RECKON_CONSUMER_CBC)
  ok = check(reckon_consumer_cbc(), "cbc") && ok;
#endif
  if (!ok || checked.empty()) return 1;
  std::printf("reckon %s ok (%s)\n", reckon::version_string, checked.c_str());
  return 0;
}
