// The loader refuses every defective plugin with a message that names the
// file and the defect, and accepts an older but compatible one.
#include <gtest/gtest.h>

#include "plugins/PluginLibrary.h"

namespace sb {
namespace {

std::string fixture(const std::string& name) { return std::string(SB_FIXTURE_DIR) + "/" + name + ".so"; }

std::string load_error(const std::string& file) {
  try {
    PluginLibrary::load(file);
  } catch (const PluginLoadError& e) {
    return e.what();
  }
  return "(loaded)";
}

TEST(Loader, AcceptsADescriptorBuiltAgainstAnOlderSmallerStruct) {
  auto lib = PluginLibrary::load(fixture("older_descriptor"));
  EXPECT_EQ(lib->name(), "older_descriptor");
  EXPECT_EQ(lib->version(), "0.9.0");
  ASSERT_EQ(lib->actions().size(), 1u);
  EXPECT_EQ(lib->actions()[0].name, "echo");
  // Fields past its struct_size are treated as absent, not read.
  EXPECT_FALSE(lib->actions()[0].retry_safe);  // a 1.0 capability has no flags
  EXPECT_EQ(lib->entry().start, nullptr);
  EXPECT_EQ(lib->entry().stop, nullptr);
}

TEST(Loader, RefusesAnotherMajorVersionNamingBothVersions) {
  const std::string error = load_error(fixture("abi_major_mismatch"));
  EXPECT_NE(error.find("abi_major_mismatch.so"), std::string::npos) << error;
  EXPECT_NE(error.find("built for ABI 2.0"), std::string::npos) << error;
  EXPECT_NE(error.find("implements ABI 1.2"), std::string::npos) << error;
}

TEST(Loader, RefusesANewerMinorVersionAskingForAHostUpgrade) {
  const std::string error = load_error(fixture("abi_minor_newer"));
  EXPECT_NE(error.find("needs ABI 1.7"), std::string::npos) << error;
  EXPECT_NE(error.find("upgrade the host"), std::string::npos) << error;
}

TEST(Loader, ReportsAMissingFile) {
  const std::string error = load_error(fixture("does_not_exist"));
  EXPECT_NE(error.find("does_not_exist.so: plugin file not found"), std::string::npos) << error;
}

TEST(Loader, ReportsAMissingEntrySymbol) {
  const std::string error = load_error(fixture("missing_entry"));
  EXPECT_NE(error.find("missing_entry.so: missing symbol 'switchboard_plugin_entry'"), std::string::npos) << error;
}

TEST(Loader, ReportsAnEntryPointThatThrows) {
  const std::string error = load_error(fixture("entry_throws"));
  EXPECT_NE(error.find("entry_throws.so: switchboard_plugin_entry() threw: no descriptor today"), std::string::npos)
      << error;
}

TEST(Loader, ReportsAConfigSchemaThatIsNotJson) {
  const std::string error = load_error(fixture("bad_schema"));
  EXPECT_NE(error.find("plugin 'bad_schema': config schema is not valid JSON"), std::string::npos) << error;
}

TEST(Loader, ReportsAConfigSchemaThatIsNotAJsonSchema) {
  const std::string error = load_error(fixture("invalid_schema"));
  EXPECT_NE(error.find("plugin 'invalid_schema': config schema is not a valid JSON Schema"), std::string::npos)
      << error;
}

TEST(Loader, ReportsAFileThatIsNotALibrary) {
  const std::string error = load_error(SB_FIXTURE_DIR "/../CMakeCache.txt");
  EXPECT_NE(error.find("cannot load the library"), std::string::npos) << error;
}

TEST(Loader, CompatibilityRuleIsEqualMajorAndHostMinorAtLeastPlugin) {
  EXPECT_EQ(abi_incompatibility({1, 0, 0}, {1, 0, 0}), "");
  EXPECT_EQ(abi_incompatibility({1, 0, 9}, {1, 2, 0}), "");
  EXPECT_NE(abi_incompatibility({1, 3, 0}, {1, 2, 0}), "");
  EXPECT_NE(abi_incompatibility({0, 9, 0}, {1, 0, 0}), "");
}

}  // namespace
}  // namespace sb
