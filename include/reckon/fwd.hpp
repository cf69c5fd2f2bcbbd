// SPDX-License-Identifier: Apache-2.0
// Forward declarations of reckon's public types; each `basic_*` template is declared here with its
// default policies, and the friendly names are aliases of those defaults.
#pragma once

#include <cstdint>

namespace reckon {

enum class errc : int;
struct error;
class exception;
template <class T>
class result;

struct problem;
enum class finish_reason : std::uint8_t;
struct token_stats;
struct completion;
struct step;
struct usage;
struct sample_batch;
struct step_batch;
struct solution_view;
struct revision_request;
struct introspection;
template <class M>
struct model_traits;

struct logprob_params;
struct sampling_params;
struct step_params;

struct philox4x32;
struct stream_key;
class random_stream;

} // namespace reckon
