// The plan artifact: an Estimate of the cost model as a sadari.plan.Plan message
// (parallel/planner/plan.proto), and its files.
//
// File formats, chosen by the file name's ending:
//   *.json            JSON (proto3 JSON mapping, field names as in the .proto)
//   *.pb, *.binpb     binary Protobuf
//   anything else     text format (the readable form; `sadari plan --output
//                     run.plan.txtpb`), starting with '#' comment lines
// Every reader checks what it read (check_plan): a model name, every count >= 1,
// world_size = pp x dp, a known schedule, zero_stage 0 or 1.
//
// Errors: throws Error naming the file (and line:column for text) and what is
// wrong: missing or unreadable file, malformed text / JSON / binary, a field out
// of range; writing names the file and leaves no partial file (written to
// FILE.tmp, then renamed).
#pragma once

#include <string>

#include "parallel/planner/cluster.h"
#include "parallel/planner/cost_model.h"
#include "parallel/planner/plan.pb.h"

namespace google::protobuf {
class Message;
}

namespace sadari {

// Estimate -> Plan. Throws Error if a count does not fit the message's int32.
plan::Plan make_plan(const Estimate& e, const ModelConfig& model, const ClusterSpec& cluster,
                     const Workload& work, const std::string& sadari_version);

// Plan -> the cost model's structs (the inverse of make_plan for these parts).
Layout layout_from_plan(const plan::Plan& p);
Workload workload_from_plan(const plan::Plan& p);
Estimate estimate_from_plan(const plan::Plan& p);

// Throws Error (where = `where`) if `p` is not a usable plan (see the header).
void check_plan(const plan::Plan& p, const std::string& where);

// The readable text form, with a comment header saying what it is.
std::string plan_to_text(const plan::Plan& p);
// JSON of any message of plan.proto (Plan or Report); every field printed.
std::string message_to_json(const google::protobuf::Message& m, bool pretty);

// Parse and check; `name` stands for the file in messages.
plan::Plan plan_from_text(const std::string& text, const std::string& name);
plan::Plan plan_from_json(const std::string& json, const std::string& name);
plan::Plan plan_from_binary(const std::string& bytes, const std::string& name);

void write_plan_file(const std::string& path, const plan::Plan& p);
plan::Plan read_plan_file(const std::string& path);

}  // namespace sadari
