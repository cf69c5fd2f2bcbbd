# SPDX-License-Identifier: Apache-2.0
# The test example.quickstart: runs examples/quickstart and checks what README says of its output.
# On its hard problem the 16-sample majority vote (first line) settles on a wrong answer, the
# particle filter (second line) finds the gold one, and the two spend about the same tokens
# (generated + prefilled within 10% of each other). Each line's own "gold X" is the reference, so
# the check holds whichever answers the strategies give, as long as the claim does.
# usage: cmake -DEXAMPLE=<path to the quickstart executable> -P quickstart_check.cmake
execute_process(COMMAND "${EXAMPLE}" OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
message("${out}${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "quickstart exited with ${rc}")
endif()

string(REGEX MATCHALL "answer [^\n]*" lines "${out}")
list(LENGTH lines count)
if(NOT count EQUAL 2)
  message(FATAL_ERROR "expected 2 'answer ...' lines (majority, particle filter), got ${count}")
endif()
set(_line_re "^answer ([^ ]+) \\(confidence [0-9.]+, gold ([^)]+)\\): generated_tokens=([0-9]+) prefilled_tokens=([0-9]+)")
set(_names majority "particle filter")
foreach(i 0 1)
  list(GET lines ${i} line)
  list(GET _names ${i} name)
  if(NOT line MATCHES "${_line_re}")
    message(FATAL_ERROR "${name}: unexpected line '${line}'")
  endif()
  set(answer_${i} "${CMAKE_MATCH_1}")
  set(gold_${i} "${CMAKE_MATCH_2}")
  math(EXPR tokens_${i} "${CMAKE_MATCH_3} + ${CMAKE_MATCH_4}")
endforeach()

if(answer_0 STREQUAL gold_0)
  message(FATAL_ERROR "README says the majority vote is wrong here, but it answered the gold ${gold_0}")
endif()
if(NOT answer_1 STREQUAL gold_1)
  message(FATAL_ERROR "README says the particle filter finds the gold ${gold_1}, but it answered ${answer_1}")
endif()
# The filter spends no more than the vote, within 10% (integers: 10 b <= 11 a).
math(EXPR lhs "10 * ${tokens_1}")
math(EXPR rhs "11 * ${tokens_0}")
if(lhs GREATER rhs)
  message(FATAL_ERROR "README says the filter spends no more tokens than the vote: ${tokens_1} vs ${tokens_0}")
endif()
message("quickstart: majority ${answer_0} (wrong), particle filter ${answer_1} (gold), tokens ${tokens_0} vs ${tokens_1}")
