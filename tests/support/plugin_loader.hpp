#pragma once
// The way haverid loads a plugin, for tests that drive a built plugin through its C
// table: dlopen the .so from the build's plugin directory, find haveri_plugin_entry and
// call it with this build's ABI version. The library stays loaded for the process.
#include <cstdlib>
#include <string>
#include <string_view>

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <haveri/plugin.h>

namespace haveri::testing {

// The table of <build>/plugins/libhaveri_<name>.so, or null after a test failure that
// says why. CTest sets HAVERI_BUILD_DIR; a direct run falls back to the configured
// build directory.
inline const haveri_plugin_api* load_built_plugin(std::string_view name) {
  const char* build_dir = std::getenv("HAVERI_BUILD_DIR");
#ifdef HAVERI_TEST_BUILD_DIR
  if (build_dir == nullptr) {
    build_dir = HAVERI_TEST_BUILD_DIR;
  }
#endif
  if (build_dir == nullptr) {
    ADD_FAILURE() << "HAVERI_BUILD_DIR is not set (run the test through ctest)";
    return nullptr;
  }
  const std::string path =
      std::string(build_dir) + "/plugins/libhaveri_" + std::string(name) + ".so";
  void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    ADD_FAILURE() << "dlopen " << path << ": " << dlerror();
    return nullptr;
  }
  void* symbol = dlsym(library, HAVERI_PLUGIN_ENTRY_SYMBOL);
  if (symbol == nullptr) {
    ADD_FAILURE() << path << " does not export " << HAVERI_PLUGIN_ENTRY_SYMBOL;
    return nullptr;
  }
  const auto entry = reinterpret_cast<haveri_plugin_entry_fn>(symbol);
  return entry(HAVERI_ABI_VERSION_MAJOR, HAVERI_ABI_VERSION_MINOR);
}

}  // namespace haveri::testing
