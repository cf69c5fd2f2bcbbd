// SPDX-License-Identifier: Apache-2.0
// reckon's version: the single source; CMake parses the three macros below.
#pragma once

#define RECKON_VERSION_MAJOR 0
#define RECKON_VERSION_MINOR 1
#define RECKON_VERSION_PATCH 0

/// The version as one integer: major * 10000 + minor * 100 + patch.
#define RECKON_VERSION (RECKON_VERSION_MAJOR * 10000 + RECKON_VERSION_MINOR * 100 + RECKON_VERSION_PATCH)

namespace reckon {

/// The library's version as "major.minor.patch".
inline constexpr const char* version_string = "0.1.0";

} // namespace reckon
