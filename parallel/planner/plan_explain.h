// "Why the winner wins": a short paragraph computed from the numbers of the
// planner's winner, the runner-up and (optionally) a named layout, for `sadari
// plan`. Nothing here is canned text about a layout: every sentence compares two
// Estimates term by term.
//
// The step time is compute + bubble + exposed_comm (cost_model.h), so the gap
// between two layouts is exactly the sum of those three differences; the
// paragraph names them largest first, the layout settings that differ, and the
// memory of both against the GPU's capacity.
//
// Pure text formatting; no errors.
#pragma once

#include <string>
#include <vector>

#include "parallel/planner/cost_model.h"

namespace sadari {

// Seconds in a readable unit: "12.3 s", "845 ms", "37.2 us".
std::string seconds_text(double s);

// One sentence: how `winner` compares with `other` (called `label`), which step
// terms make the difference and which settings differ. `memory_limit` in bytes.
std::string compare_estimates(const Estimate& winner, const Estimate& other,
                              const std::string& label, double memory_limit);

// The paragraph: the winner's step, MFU and memory, then compare_estimates with
// the runner-up (best[1], if any) and with `named` (if not null and not the
// winner's layout). REQUIRES: !best.empty().
std::string explain_winner(const std::vector<Estimate>& best, const Estimate* named,
                           const std::string& named_label, double memory_limit,
                           int64_t fitting_count);

}  // namespace sadari
