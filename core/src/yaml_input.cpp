#include "yaml_input.hpp"

#include <array>
#include <cerrno>
#include <cstdio>
#include <memory>

#include <yaml-cpp/yaml.h>

namespace haveri::core {

namespace {

struct FileCloser {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};

}  // namespace

std::pair<std::string, int> read_bounded_file(const std::filesystem::path& path,
                                              std::size_t limit) {
  errno = 0;
  const std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    return {{}, errno != 0 ? errno : EIO};
  }
  std::string contents;
  std::array<char, 8192> buffer{};
  while (true) {
    const std::size_t n = std::fread(buffer.data(), 1, buffer.size(), file.get());
    contents.append(buffer.data(), n);
    if (contents.size() > limit) {
      return {{}, EFBIG};
    }
    if (n < buffer.size()) {
      if (std::ferror(file.get()) != 0) {
        return {{}, errno != 0 ? errno : EIO};
      }
      break;
    }
  }
  return {std::move(contents), 0};
}

std::size_t count_yaml_nodes(const YAML::Node& node, std::size_t limit) {
  std::size_t count = 1;
  const auto add = [&](const YAML::Node& child) {
    if (count <= limit) {
      count += count_yaml_nodes(child, limit - count);
    }
  };
  if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end() && count <= limit; ++it) {
      add(it->first);
      add(it->second);
    }
  } else if (node.IsSequence()) {
    for (auto it = node.begin(); it != node.end() && count <= limit; ++it) {
      add(*it);
    }
  }
  return count;
}

}  // namespace haveri::core
