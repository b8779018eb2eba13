// The ABI as C++ sees it must match what C sees (abi_layout_check.c), and the
// real plugin must report the version and table size the host expects.
#include <cstddef>
#include <string>

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <haveri/plugin.h>

#include "support/daemon_process.hpp"

static_assert(offsetof(haveri_host_api, complete_operation) == 32, "last ABI 1.0 host member");
static_assert(offsetof(haveri_host_api, http_request) == 40,
              "ABI 1.2 appends the host's services right after the 1.0 host table");
static_assert(offsetof(haveri_host_api, begin_inbound) == 88, "last ABI 1.2 host member");
static_assert(sizeof(haveri_host_api) == 96, "ABI 1.2 host table size is frozen");
static_assert(offsetof(haveri_plugin_api, perform_operation) == 48, "last ABI 1.0 member");
static_assert(offsetof(haveri_plugin_api, describe_instance) == 56,
              "ABI 1.1 appends describe_instance right after the 1.0 table");
static_assert(offsetof(haveri_plugin_api, on_http_response) == 64,
              "ABI 1.2 appends the service callbacks right after the 1.1 table");
static_assert(offsetof(haveri_plugin_api, on_inbound_settled) == 88, "last ABI 1.2 member");
static_assert(sizeof(haveri_plugin_api) == 96, "ABI 1.2 plugin table size is frozen");
static_assert(HAVERI_ABI_VERSION_MINOR == 2, "this is ABI 1.2");

TEST(AbiLayout, TableHasSeesOnlyMembersTheSizeCovers) {
  haveri_plugin_api table{};
  table.struct_size = static_cast<std::uint32_t>(offsetof(haveri_plugin_api, describe_instance));
  EXPECT_TRUE(HAVERI_TABLE_HAS(haveri_plugin_api, &table, perform_operation));
  EXPECT_FALSE(HAVERI_TABLE_HAS(haveri_plugin_api, &table, describe_instance));
  // half a pointer is not a member
  table.struct_size = static_cast<std::uint32_t>(offsetof(haveri_plugin_api, on_http_response) - 1);
  EXPECT_FALSE(HAVERI_TABLE_HAS(haveri_plugin_api, &table, describe_instance));
  table.struct_size = static_cast<std::uint32_t>(offsetof(haveri_plugin_api, on_http_response));
  EXPECT_TRUE(HAVERI_TABLE_HAS(haveri_plugin_api, &table, describe_instance));
  EXPECT_FALSE(HAVERI_TABLE_HAS(haveri_plugin_api, &table, on_http_response));
  table.struct_size = sizeof(haveri_plugin_api);
  EXPECT_TRUE(HAVERI_TABLE_HAS(haveri_plugin_api, &table, on_inbound_settled));
}

TEST(AbiLayout, LocalPluginReportsThisAbiAndAFullTable) {
  const auto file = haveri::testing::build_dir() / "plugins" / "libhaveri_local.so";
  void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(handle, nullptr) << dlerror();
  auto entry = reinterpret_cast<haveri_plugin_entry_fn>(dlsym(handle, HAVERI_PLUGIN_ENTRY_SYMBOL));
  ASSERT_NE(entry, nullptr);
  const haveri_plugin_api* api = entry(HAVERI_ABI_VERSION_MAJOR, HAVERI_ABI_VERSION_MINOR);
  ASSERT_NE(api, nullptr);
  EXPECT_EQ(api->abi_major, HAVERI_ABI_VERSION_MAJOR);
  EXPECT_EQ(api->abi_minor, HAVERI_ABI_VERSION_MINOR);
  EXPECT_EQ(api->struct_size, sizeof(haveri_plugin_api));
  EXPECT_EQ(std::string(api->name), "local");
  EXPECT_NE(api->describe_instance, nullptr) << "the reference plugin declares its limits";
  // Only the entry is exported: helpers stay private to the plugin.
  EXPECT_EQ(dlsym(handle, "_ZN6haveri3sdk4view"), nullptr);
  dlclose(handle);
}
