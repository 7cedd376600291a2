// Registers `test.pass`, which the good test library also registers, and `dup.unique`, which
// nobody else does: the duplicate is refused, the unique type still arrives.
#include <qflow/sdk.hpp>

namespace {

class DuplicatePass {
 public:
  static qflow::NodeSpec spec() {
    return qflow::NodeSpec("test.pass", "transform")
        .input("in", qflow::Kind::bar, "bars")
        .output("out", qflow::Kind::bar, "bars");
  }
  explicit DuplicatePass(const qflow::NodeConfig&) {}
};

class DuplicateUnique {
 public:
  static qflow::NodeSpec spec() {
    return qflow::NodeSpec("dup.unique", "sink").input("in", qflow::Kinds::any(), "anything");
  }
  explicit DuplicateUnique(const qflow::NodeConfig&) {}
};

}  // namespace

QFLOW_PLUGIN("qflow-test-dup", "0.0.1", [](qflow::Registrar& r) {
  r.add<DuplicatePass>();
  r.add<DuplicateUnique>();
})
