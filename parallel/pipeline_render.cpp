#include "parallel/pipeline_render.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>

#include "core/error.h"

namespace sadari {

namespace {

char letter(const Action& a) {
  char c = '?';
  switch (a.kind) {
    case ActionKind::forward: c = 'F'; break;
    case ActionKind::backward: c = 'B'; break;
    case ActionKind::backward_input: c = 'I'; break;
    case ActionKind::backward_weight: c = 'W'; break;
    default: break;
  }
  return a.chunk == 0 ? c : static_cast<char>(c - 'A' + 'a');
}

// Shortest text that reads back as the same double.
std::string number(double x) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, x);
  return std::string(buf, r.ptr);
}

// Text for XML content: describe() writes '&' for overlapped actions.
std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else out += c;
  }
  return out;
}

double shortest_compute(const SimulationCosts& c) {
  double m = 0;
  for (double x : {c.forward, c.backward_input, c.backward_weight})
    if (x > 0 && (m == 0 || x < m)) m = x;
  return m > 0 ? m : 1.0;
}

const char* colour(ActionKind k) {
  switch (k) {
    case ActionKind::forward: return "#4e79a7";
    case ActionKind::backward: return "#59a14f";
    case ActionKind::backward_input: return "#76b7b2";
    case ActionKind::backward_weight: return "#b07aa1";
    default: return "#999999";
  }
}

}  // namespace

std::string render_text_timeline(const PipelineSchedule& s, const SimulationResult& r,
                                 const SimulationCosts& costs, double columns_per_unit) {
  SADARI_ASSERT(static_cast<int>(r.ranks.size()) == s.ranks());
  if (columns_per_unit <= 0) columns_per_unit = 3.0 / shortest_compute(costs);
  auto column = [&](double t) { return static_cast<size_t>(std::lround(t * columns_per_unit)); };
  const size_t width = column(r.makespan);
  std::ostringstream out;
  out << to_string(s.kind()) << ": " << s.ranks() << " ranks, " << s.microbatches()
      << " micro-batches, " << s.chunks_per_rank() << " chunk(s) per rank, "
      << s.num_stages() << " stages; F=" << number(costs.forward)
      << " B=" << number(costs.backward_input) << " W=" << number(costs.backward_weight);
  if (costs.overlapped_f_b) out << " F&B=" << number(*costs.overlapped_f_b);
  if (costs.p2p > 0) out << " p2p=" << number(costs.p2p);
  out << "\n";
  for (int rank = 0; rank < s.ranks(); ++rank) {
    std::string row(width, '.');
    const auto& list = s.actions(rank);
    const auto& times = r.ranks[static_cast<size_t>(rank)].times;
    for (size_t i = 0; i < list.size(); ++i) {
      if (!is_compute(list[i].kind)) continue;
      const size_t from = column(times[i].start), to = std::min(column(times[i].end), width);
      if (to <= from) continue;
      std::string label(1, letter(list[i]));
      label += std::to_string(list[i].microbatch);
      for (size_t c = from; c < to; ++c) {
        const size_t k = c - from;
        row[c] = (k < label.size() && to - from >= label.size()) ? label[k] : letter(list[i]);
      }
      if (to - from > label.size()) row[to - 1] = ' ';  // a gap marks where it ends
    }
    out << "rank " << rank << (rank < 10 ? "  |" : " |") << row << "|\n";
  }
  out << "makespan " << number(r.makespan) << ", bubble " << number(r.total_bubble) << " ("
      << number(std::round(r.bubble_fraction * 10000) / 100) << "% of makespan x ranks)\n";
  for (int rank = 0; rank < s.ranks(); ++rank) {
    const auto& t = r.ranks[static_cast<size_t>(rank)];
    out << "rank " << rank << ": busy " << number(t.compute) << ", bubble " << number(t.bubble)
        << ", peak activations " << t.peak_activations << "\n";
  }
  return out.str();
}

std::string render_svg(const PipelineSchedule& s, const SimulationResult& r,
                       const SimulationCosts& costs) {
  const double unit_px = std::clamp(1600.0 / std::max(r.makespan, 1e-9), 2.0, 60.0 / shortest_compute(costs));
  const double left = 70, top = 40, row_h = 28, gap = 6;
  const double width = left + r.makespan * unit_px + 20;
  const double height = top + s.ranks() * (row_h + gap) + 60;
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << number(std::ceil(width))
    << "\" height=\"" << number(std::ceil(height)) << "\" font-family=\"monospace\" font-size=\"11\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << left << "\" y=\"20\" font-size=\"14\">" << to_string(s.kind()) << ", P="
    << s.ranks() << ", M=" << s.microbatches() << ", V=" << s.chunks_per_rank() << ": makespan "
    << number(r.makespan) << ", bubble " << number(std::round(r.bubble_fraction * 10000) / 100)
    << "%</text>\n";
  for (int rank = 0; rank < s.ranks(); ++rank) {
    const double y = top + rank * (row_h + gap);
    o << "<text x=\"8\" y=\"" << number(y + row_h * 0.65) << "\">rank " << rank << "</text>\n";
    o << "<rect x=\"" << left << "\" y=\"" << y << "\" width=\"" << number(r.makespan * unit_px)
      << "\" height=\"" << row_h << "\" fill=\"#f0f0f0\"/>\n";
    const auto& list = s.actions(rank);
    const auto& times = r.ranks[static_cast<size_t>(rank)].times;
    for (size_t i = 0; i < list.size(); ++i) {
      const Action& a = list[i];
      if (!is_compute(a.kind)) continue;
      const double x = left + times[i].start * unit_px;
      const double w = (times[i].end - times[i].start) * unit_px;
      const bool paired = a.overlap_with_next || (i > 0 && [&] {
        for (size_t k = i; k-- > 0;)
          if (is_compute(list[k].kind)) return list[k].overlap_with_next;
        return false;
      }());
      o << "<rect x=\"" << number(x) << "\" y=\"" << y << "\" width=\"" << number(w)
        << "\" height=\"" << row_h << "\" fill=\"" << colour(a.kind) << "\" fill-opacity=\""
        << (a.chunk == 0 ? "1" : "0.55") << "\" stroke=\"" << (paired ? "#000" : "#fff")
        << "\" stroke-width=\"" << (paired ? "1.5" : "0.5") << "\"><title>" << xml_escape(describe(a))
        << " [" << number(times[i].start) << ", " << number(times[i].end) << ")</title></rect>\n";
      std::string label(1, letter(a));
      label += std::to_string(a.microbatch);
      if (w >= 7.0 * static_cast<double>(label.size()))
        o << "<text x=\"" << number(x + w / 2) << "\" y=\"" << number(y + row_h * 0.65)
          << "\" text-anchor=\"middle\" fill=\"white\">" << label << "</text>\n";
    }
  }
  const double axis_y = top + s.ranks() * (row_h + gap) + 12;
  const double step = std::max(1.0, std::pow(10.0, std::floor(std::log10(std::max(r.makespan, 1.0) / 2))));
  for (double t = 0; t <= r.makespan + 1e-9; t += step)
    o << "<text x=\"" << number(left + t * unit_px) << "\" y=\"" << number(axis_y)
      << "\" text-anchor=\"middle\" fill=\"#555\">" << number(t) << "</text>\n";
  double lx = left;
  for (auto [kind, name] : {std::pair{ActionKind::forward, "F forward"},
                            std::pair{ActionKind::backward, "B backward"},
                            std::pair{ActionKind::backward_input, "I input backward"},
                            std::pair{ActionKind::backward_weight, "W weight backward"}}) {
    o << "<rect x=\"" << number(lx) << "\" y=\"" << number(axis_y + 14) << "\" width=\"12\" height=\"12\" fill=\""
      << colour(kind) << "\"/><text x=\"" << number(lx + 16) << "\" y=\"" << number(axis_y + 24)
      << "\">" << name << "</text>\n";
    lx += 150;
  }
  o << "<text x=\"" << number(lx) << "\" y=\"" << number(axis_y + 24)
    << "\">light: chunk 1+, outlined: overlapped pair</text>\n";
  o << "</svg>\n";
  return o.str();
}

std::string render_json(const PipelineSchedule& s, const SimulationResult& r,
                        const SimulationCosts& costs) {
  std::ostringstream o;
  o << "{\"kind\":\"" << to_string(s.kind()) << "\",\"stages\":" << s.ranks()
    << ",\"microbatches\":" << s.microbatches() << ",\"chunks\":" << s.chunks_per_rank()
    << ",\"model_stages\":" << s.num_stages() << ",\"costs\":{\"f\":" << number(costs.forward)
    << ",\"b\":" << number(costs.backward_input) << ",\"w\":" << number(costs.backward_weight);
  if (costs.overlapped_f_b) o << ",\"fb\":" << number(*costs.overlapped_f_b);
  o << ",\"p2p\":" << number(costs.p2p) << "},\"makespan\":" << number(r.makespan)
    << ",\"bubble\":{\"total\":" << number(r.total_bubble)
    << ",\"fraction\":" << number(r.bubble_fraction) << ",\"per_rank\":[";
  for (size_t i = 0; i < r.ranks.size(); ++i) o << (i ? "," : "") << number(r.ranks[i].bubble);
  o << "]},\"peak_activations\":[";
  for (size_t i = 0; i < r.ranks.size(); ++i) o << (i ? "," : "") << r.ranks[i].peak_activations;
  o << "],\"ranks\":[";
  for (int rank = 0; rank < s.ranks(); ++rank) {
    const auto& t = r.ranks[static_cast<size_t>(rank)];
    o << (rank ? "," : "") << "{\"rank\":" << rank << ",\"compute\":" << number(t.compute)
      << ",\"bubble\":" << number(t.bubble) << ",\"peak_activations\":" << t.peak_activations
      << ",\"actions\":[";
    const auto& list = s.actions(rank);
    for (size_t i = 0; i < list.size(); ++i) {
      const Action& a = list[i];
      o << (i ? "," : "") << "{\"kind\":\"" << to_string(a.kind) << "\",\"microbatch\":"
        << a.microbatch << ",\"chunk\":" << a.chunk << ",\"start\":" << number(t.times[i].start)
        << ",\"end\":" << number(t.times[i].end);
      if (!is_compute(a.kind)) o << ",\"peer\":" << a.peer << ",\"peer_chunk\":" << a.peer_chunk;
      if (a.overlap_with_next) o << ",\"overlap_with_next\":true";
      o << "}";
    }
    o << "]}";
  }
  o << "]}\n";
  return o.str();
}

}  // namespace sadari
