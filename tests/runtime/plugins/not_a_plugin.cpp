// A perfectly loadable shared library that is not a qflow plugin: it exports a function, but
// not the `qflow_plugin` entry point.
extern "C" __attribute__((visibility("default"))) int qflow_test_not_a_plugin_answer(void) { return 42; }
