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

struct ledger;
struct budget;
enum class stop_reason : std::uint8_t;
template <class M>
class metered;

enum class tie_break : std::uint8_t;
struct answer_tally;
struct vote_tally;
struct vote_params;
class vote_counter;
struct reduce_last;
struct reduce_min;
struct reduce_prod;
struct reduce_log_prod;
struct reduce_mean;
enum class step_reduction : std::uint8_t;

struct multinomial_resampler;
struct systematic_resampler;
struct stratified_resampler;
struct residual_resampler;
enum class resampling_scheme : std::uint8_t;
struct always_resample;
struct ess_below;

struct rational;
struct numeric_value;
struct canonical_answer;
struct boxed_extractor;
struct answer_is_extractor;
struct gsm8k_extractor;
struct last_number_extractor;
class regex_extractor;

struct row_stats;
struct token_stats_params;
struct topk_stats_params;
enum class tail_model : std::uint8_t;

// Strategies: each basic_* template with its default policies; the friendly names are aliases.
struct trace_event;
struct strategy_result;
struct canonical_answer_key;

struct stop_never;
struct stop_window;
struct stop_posterior;
struct stop_supermajority;
struct unit_weight;
struct self_consistency_params;
template <class Stop = stop_never, class Weight = unit_weight, class AnswerKey = canonical_answer_key>
class basic_self_consistency;

struct select_naive;
struct select_weighted;
struct orm_scorer;
template <class Reduce>
struct prm_scorer;
struct best_of_n_params;
template <class Selection = select_naive, class Scorer = prm_scorer<reduce_last>,
          class AnswerKey = canonical_answer_key>
class basic_best_of_n;

struct deepconf_offline;
struct deepconf_online;
struct deepconf_params;
template <class Mode = deepconf_offline, class AnswerKey = canonical_answer_key>
class basic_deepconf;

struct particle_filter_params;
template <class Resampler = multinomial_resampler, class Trigger = always_resample, class Selection = select_naive,
          class AnswerKey = canonical_answer_key>
class basic_particle_filter;

struct beam_search_params;
template <class Selection = select_weighted, class AnswerKey = canonical_answer_key>
class basic_beam_search;
template <class Selection = select_weighted, class AnswerKey = canonical_answer_key>
class basic_dvts;

struct particle_gibbs_params;
template <class Resampler = multinomial_resampler, class Selection = select_naive, class AnswerKey = canonical_answer_key>
class basic_particle_gibbs;

struct generated_length;
struct short_m_at_k_params;
template <class Length = generated_length, class AnswerKey = canonical_answer_key>
class basic_short_m_at_k;

struct prism_params;
template <class Reduce = reduce_last, class AnswerKey = canonical_answer_key>
class basic_prism;

struct rebase_params;
struct select_majority;
template <class Selection = select_weighted, class AnswerKey = canonical_answer_key>
class basic_rebase;

struct scale_params;
struct rate_upfront;
struct rate_in_context;
template <class Rating = rate_upfront, class AnswerKey = canonical_answer_key>
class basic_scale;

struct sequential_revisions_params;
struct select_hierarchical;
template <class Selection = select_hierarchical, class Scorer = orm_scorer, class AnswerKey = canonical_answer_key>
class basic_sequential_revisions;

struct zip_rc_params;
template <class AnswerKey = canonical_answer_key>
class basic_zip_rc;

struct free_energy_params;
struct free_energy_fusion_params;
template <class AnswerKey = canonical_answer_key>
class basic_free_energy_fusion;
struct odar_params;
struct odar_result;
template <class AnswerKey = canonical_answer_key>
class basic_odar;

struct compute_optimal_params;
template <class AnswerKey = canonical_answer_key>
class basic_compute_optimal;

} // namespace reckon
