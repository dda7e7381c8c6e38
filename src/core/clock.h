// Wall-clock time as files and JSON show it: UTC, RFC 3339 with milliseconds.
//
//   entry["time"] = tandem::utc_now_rfc3339();   // "2026-11-29T23:20:05.123Z"
//
// Thread-safety: a pure function of the clock.
#pragma once

#include <string>

namespace tandem {

std::string utc_now_rfc3339();

}  // namespace tandem
