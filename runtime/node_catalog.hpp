// `qflow nodes`: every registered node type, from its spec, as text, JSON or Markdown.
// docs/nodes.md is the Markdown output, committed; a test fails when it goes stale.
#pragma once

#include "node_registry.hpp"

#include <string>

namespace qflow {

std::string catalog_text(const NodeRegistry& registry);
std::string catalog_json(const NodeRegistry& registry);
std::string catalog_markdown(const NodeRegistry& registry);

}  // namespace qflow
