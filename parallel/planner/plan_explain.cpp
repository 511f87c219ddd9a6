#include "parallel/planner/plan_explain.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace sadari {

namespace {

using detail::cat;

std::string printf_text(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string gb_text(double bytes) { return printf_text("%.1f", bytes / 1e9); }

// A signed difference in seconds: "+0.31 s", "-845 ms".
std::string delta_text(double d) { return cat(d >= 0 ? "+" : "-", seconds_text(std::fabs(d))); }

// The settings in which two layouts differ, "pp 8 vs 16, schedule dualpipe vs 1f1b".
std::string layout_differences(const Layout& a, const Layout& b) {
  std::vector<std::string> parts;
  auto num = [&](const char* name, int64_t x, int64_t y) {
    if (x != y) parts.push_back(cat(name, " ", x, " vs ", y));
  };
  num("pp", a.pp, b.pp);
  num("dp", a.dp, b.dp);
  num("ep", a.ep, b.ep);
  if (a.micro_batch != b.micro_batch || a.microbatches != b.microbatches)
    parts.push_back(cat("micro-batches ", a.micro_batch, "x", a.microbatches, " vs ", b.micro_batch,
                        "x", b.microbatches));
  if (a.schedule != b.schedule || a.chunks != b.chunks)
    parts.push_back(cat("schedule ", a.schedule, " vs ", b.schedule));
  num("ZeRO", a.zero_stage, b.zero_stage);
  if (a.recompute != b.recompute)
    parts.push_back(cat("recompute ", a.recompute ? "on" : "off", " vs ", b.recompute ? "on" : "off"));
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? ", " : "") + parts[i];
  return out;
}

}  // namespace

std::string seconds_text(double s) {
  const double a = std::fabs(s);
  if (a >= 100) return printf_text("%.0f s", s);
  if (a >= 1) return printf_text("%.2f s", s);
  if (a == 0) return "0 s";
  // Three significant digits, trailing zeros kept ("2.00 ms", "37.2 us", "845 ms").
  const bool ms = a >= 1e-3;
  const double v = ms ? a * 1e3 : a * 1e6;
  const char* format = v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : "%.2f";
  return cat(s < 0 ? "-" : "", printf_text(format, v), ms ? " ms" : " us");
}

std::string compare_estimates(const Estimate& w, const Estimate& o, const std::string& label,
                              double memory_limit) {
  const double gap = o.time.step - w.time.step;
  std::string s = cat("Against ", label, " (", o.layout.describe(), "): ");
  if (gap > 0)
    s += cat(printf_text("%.1f", 100 * gap / o.time.step), "% faster per step (",
             seconds_text(w.time.step), " vs ", seconds_text(o.time.step), ")");
  else if (gap == 0)
    s += cat("the same step time (", seconds_text(w.time.step), "), ranked first on memory");
  else
    s += cat(label, " is ", printf_text("%.1f", 100 * -gap / w.time.step), "% faster (",
             seconds_text(o.time.step), " vs ", seconds_text(w.time.step), ")",
             o.fits ? ", a layout outside the searched set"
                    : cat(" but does not fit: it needs ", gb_text(o.memory.total()), " GB, ",
                          gb_text(o.memory_overshoot), " GB over"));

  // The step is compute + bubble + exposed_comm: name the differences, largest first.
  struct Term {
    const char* name;
    double d;
  };
  std::vector<Term> terms = {{"compute", w.time.compute - o.time.compute},
                             {"bubble", w.time.bubble - o.time.bubble},
                             {"exposed communication", w.time.exposed_comm - o.time.exposed_comm}};
  std::stable_sort(terms.begin(), terms.end(),
                   [](const Term& a, const Term& b) { return std::fabs(a.d) > std::fabs(b.d); });
  const double scale = std::max(w.time.step, o.time.step);
  std::vector<std::string> named, equal;
  for (const Term& t : terms) {
    if (std::fabs(t.d) > 1e-4 * scale) named.push_back(cat(t.name, " ", delta_text(t.d)));
    else equal.push_back(t.name);
  }
  if (!named.empty()) {
    s += "; the difference is ";
    for (size_t i = 0; i < named.size(); ++i) s += (i ? ", " : "") + named[i];
    if (!equal.empty()) {
      s += ", ";
      for (size_t i = 0; i < equal.size(); ++i) s += (i ? " and " : "") + equal[i];
      s += " equal";
    }
  }
  // Where exposed communication differs, say which raw traffic moved most.
  if (std::fabs(w.time.exposed_comm - o.time.exposed_comm) > 1e-4 * scale) {
    struct Raw {
      const char* name;
      double a, b;
    };
    Raw raws[] = {{"EP all-to-all", w.time.ep_dispatch + w.time.ep_combine,
                   o.time.ep_dispatch + o.time.ep_combine},
                  {"DP gradient sync", w.time.dp_sync, o.time.dp_sync},
                  {"PP transfers", w.time.pp_transfer, o.time.pp_transfer}};
    const Raw* most = &raws[0];
    for (const Raw& r : raws)
      if (std::fabs(r.a - r.b) > std::fabs(most->a - most->b)) most = &r;
    s += cat("; before overlap, ", most->name, " takes ", seconds_text(most->a), " vs ",
             seconds_text(most->b));
  }
  const std::string diff = layout_differences(w.layout, o.layout);
  if (!diff.empty()) s += cat("; settings differ in ", diff);
  s += cat("; memory ", gb_text(w.memory.total()), " vs ", gb_text(o.memory.total()), " GB of ",
           gb_text(memory_limit), " GB.");
  return s;
}

std::string explain_winner(const std::vector<Estimate>& best, const Estimate* named,
                           const std::string& named_label, double memory_limit,
                           int64_t fitting_count) {
  SADARI_ASSERT(!best.empty());
  const Estimate& w = best.front();
  std::string s = cat("Why ", w.layout.describe(), " wins: it is the fastest of ", fitting_count,
                      " layouts that fit in ", gb_text(memory_limit), " GB, at ",
                      seconds_text(w.time.step), " per step (compute ", seconds_text(w.time.compute),
                      ", bubble ", seconds_text(w.time.bubble), ", exposed communication ",
                      seconds_text(w.time.exposed_comm), "), MFU ", printf_text("%.1f", 100 * w.mfu),
                      "%, using ", gb_text(w.memory.total()), " GB.");
  if (best.size() > 1) s += cat(" ", compare_estimates(w, best[1], "the runner-up", memory_limit));
  if (named) {
    if (named->layout == w.layout)
      s += cat(" ", named_label, " is the winner itself.");
    else
      s += cat(" ", compare_estimates(w, *named, named_label, memory_limit));
  }
  return s;
}

}  // namespace sadari
