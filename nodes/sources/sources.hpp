// Shared pieces of the source plugin: the registration functions of its node types. Internal to
// this library.
#pragma once

#include <qflow/sdk.hpp>

namespace qflow::nodes {

void register_csv_bars(Registrar& r);
void register_synthetic_bars(Registrar& r);

}  // namespace qflow::nodes
