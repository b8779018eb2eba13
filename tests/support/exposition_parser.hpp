#pragma once
// Test support: a strict reader of the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/), stricter than
// Prometheus itself where haverid promises more: every family has its TYPE line,
// no empty lines, no duplicate series, histograms complete and consistent.
// Every scrape the tests take must pass it.

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace haveri::testing {

struct ExpositionSample {
  std::string name;                           // as written: x_bucket, x_sum, x_total…
  std::map<std::string, std::string> labels;  // unescaped values
  double value = 0;
};

struct ExpositionFamily {
  std::string type;  // counter, gauge, histogram, summary, untyped
  std::string help;  // unescaped
};

struct Exposition {
  std::string error;  // empty: the text is valid; else "line N: what is wrong"
  std::map<std::string, ExpositionFamily> families;
  std::vector<ExpositionSample> samples;

  // The value of the sample with exactly these labels, if there is one.
  std::optional<double> value(const std::string& name,
                              const std::map<std::string, std::string>& labels = {}) const {
    for (const ExpositionSample& sample : samples) {
      if (sample.name == name && sample.labels == labels) {
        return sample.value;
      }
    }
    return std::nullopt;
  }

  // Samples of `name` whose labels include every pair of `having`.
  std::vector<ExpositionSample> matching(const std::string& name,
                                         const std::map<std::string, std::string>& having) const {
    std::vector<ExpositionSample> found;
    for (const ExpositionSample& sample : samples) {
      if (sample.name != name) {
        continue;
      }
      const bool all = std::all_of(having.begin(), having.end(), [&](const auto& pair) {
        auto label = sample.labels.find(pair.first);
        return label != sample.labels.end() && label->second == pair.second;
      });
      if (all) {
        found.push_back(sample);
      }
    }
    return found;
  }
};

namespace exposition_detail {

inline bool name_start(char c, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}

inline bool valid_name(std::string_view name, bool colon) {
  if (name.empty() || !name_start(name[0], colon)) {
    return false;
  }
  return std::all_of(name.begin(), name.end(),
                     [colon](char c) { return name_start(c, colon) || (c >= '0' && c <= '9'); });
}

// Go's strconv.ParseFloat forms Prometheus accepts: decimal, exponent, NaN, ±Inf.
inline std::optional<double> parse_value(std::string_view text) {
  if (text == "NaN") {
    return std::nan("");
  }
  if (text == "+Inf" || text == "Inf") {
    return HUGE_VAL;
  }
  if (text == "-Inf") {
    return -HUGE_VAL;
  }
  if (text.empty()) {
    return std::nullopt;
  }
  const std::string copy(text);
  // Only digits, sign, point and exponent: strtod would also take hex and "inf".
  for (const char c : copy) {
    if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E')) {
      return std::nullopt;
    }
  }
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || errno == ERANGE) {
    return std::nullopt;
  }
  return value;
}

// Unescapes a HELP docstring (\\ and \n only); nullopt for any other escape.
inline std::optional<std::string> unescape_help(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out += text[i];
      continue;
    }
    if (i + 1 >= text.size()) {
      return std::nullopt;
    }
    const char next = text[++i];
    if (next == '\\') {
      out += '\\';
    } else if (next == 'n') {
      out += '\n';
    } else {
      return std::nullopt;
    }
  }
  return out;
}

// The family a sample belongs to: x for x_bucket/x_sum/x_count of histogram x.
inline std::string family_of(const std::string& sample,
                             const std::map<std::string, ExpositionFamily>& families) {
  for (const std::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (sample.size() > suffix.size() && sample.ends_with(suffix)) {
      const std::string base = sample.substr(0, sample.size() - suffix.size());
      auto found = families.find(base);
      if (found != families.end() && (found->second.type == "histogram" ||
                                      (found->second.type == "summary" && suffix != "_bucket"))) {
        return base;
      }
    }
  }
  return sample;
}

}  // namespace exposition_detail

inline Exposition parse_exposition(std::string_view text) {
  using namespace exposition_detail;
  Exposition result;
  const auto fail = [&result](std::size_t line, const std::string& why) {
    result.error = "line " + std::to_string(line) + ": " + why;
    return result;
  };
  if (!text.empty() && text.back() != '\n') {
    return fail(0, "the last line must end with a line feed");
  }
  std::set<std::string> helped;
  std::set<std::string> finished;  // families whose lines are over: must not come back
  std::string current;             // the family of the previous line
  std::set<std::pair<std::string, std::map<std::string, std::string>>> series;
  std::size_t number = 0;
  std::size_t start = 0;
  const auto enter = [&](const std::string& family) -> bool {
    if (family == current) {
      return true;
    }
    if (finished.contains(family)) {
      return false;
    }
    if (!current.empty()) {
      finished.insert(current);
    }
    current = family;
    return true;
  };
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++number;
    if (line.empty()) {
      return fail(number, "empty line");
    }
    if (line.back() == ' ' || line.back() == '\t' || line.front() == ' ') {
      return fail(number, "surrounding whitespace");
    }
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      const bool is_help = line[2] == 'H';
      const std::string_view rest = line.substr(7);
      const std::size_t space = rest.find(' ');
      const std::string name(rest.substr(0, space));
      if (!valid_name(name, true)) {
        return fail(number, "bad metric name \"" + name + "\"");
      }
      if (!enter(name)) {
        return fail(number, name + ": its lines are not one group");
      }
      for (const ExpositionSample& sample : result.samples) {
        if (family_of(sample.name, result.families) == name) {
          return fail(number, name + ": HELP or TYPE after its samples");
        }
      }
      if (is_help) {
        if (!helped.insert(name).second) {
          return fail(number, name + ": second HELP line");
        }
        auto help = unescape_help(space == std::string_view::npos ? "" : rest.substr(space + 1));
        if (!help) {
          return fail(number, name + ": HELP has an escape other than \\\\ and \\n");
        }
        result.families[name].help = *help;
      } else {
        if (space == std::string_view::npos) {
          return fail(number, name + ": TYPE without a type");
        }
        const std::string type(rest.substr(space + 1));
        if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" &&
            type != "untyped") {
          return fail(number, name + ": unknown type \"" + type + "\"");
        }
        if (!result.families[name].type.empty()) {
          return fail(number, name + ": second TYPE line");
        }
        result.families[name].type = type;
      }
      continue;
    }
    if (line.front() == '#') {
      continue;  // a comment
    }
    // name{label="value",…} value [timestamp]
    ExpositionSample sample;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') {
      ++i;
    }
    sample.name = std::string(line.substr(0, i));
    if (!valid_name(sample.name, true)) {
      return fail(number, "bad metric name \"" + sample.name + "\"");
    }
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (true) {
        if (i < line.size() && line[i] == '}') {
          ++i;
          break;
        }
        std::size_t equals = line.find('=', i);
        if (equals == std::string_view::npos) {
          return fail(number, "label without '='");
        }
        const std::string label(line.substr(i, equals - i));
        if (!valid_name(label, false) || label.starts_with("__")) {
          return fail(number, "bad label name \"" + label + "\"");
        }
        i = equals + 1;
        if (i >= line.size() || line[i] != '"') {
          return fail(number, label + ": value not quoted");
        }
        ++i;
        std::string value;
        bool closed = false;
        while (i < line.size()) {
          const char c = line[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            if (i >= line.size()) {
              return fail(number, label + ": dangling backslash");
            }
            const char next = line[i++];
            if (next == '\\') {
              value += '\\';
            } else if (next == '"') {
              value += '"';
            } else if (next == 'n') {
              value += '\n';
            } else {
              return fail(number, label + ": unknown escape \\" + std::string(1, next));
            }
          } else {
            value += c;
          }
        }
        if (!closed) {
          return fail(number, label + ": unterminated value");
        }
        if (!sample.labels.emplace(label, value).second) {
          return fail(number, "label " + label + " twice");
        }
        if (i < line.size() && line[i] == ',') {
          ++i;
        } else if (i >= line.size() || line[i] != '}') {
          return fail(number, "expected ',' or '}' after label " + label);
        }
      }
    }
    if (i >= line.size() || line[i] != ' ') {
      return fail(number, "expected a space before the value");
    }
    const std::string_view rest = line.substr(i + 1);
    const std::size_t space = rest.find(' ');
    auto value = parse_value(rest.substr(0, space));
    if (!value) {
      return fail(number, "bad value \"" + std::string(rest.substr(0, space)) + "\"");
    }
    if (space != std::string_view::npos) {
      const std::string_view stamp = rest.substr(space + 1);
      const bool digits = !stamp.empty() && std::all_of(stamp.begin(), stamp.end(), [](char c) {
        return (c >= '0' && c <= '9') || c == '-';
      });
      if (!digits) {
        return fail(number, "bad timestamp \"" + std::string(stamp) + "\"");
      }
    }
    sample.value = *value;
    const std::string family = family_of(sample.name, result.families);
    auto typed = result.families.find(family);
    if (typed == result.families.end() || typed->second.type.empty()) {
      return fail(number, sample.name + ": no TYPE line before it");
    }
    if (!enter(family)) {
      return fail(number, family + ": its lines are not one group");
    }
    const std::string& type = typed->second.type;
    if (type == "counter" && (sample.value < 0 || std::isnan(sample.value))) {
      return fail(number, sample.name + ": a counter below 0");
    }
    if (type == "histogram") {
      if (sample.name == family) {
        return fail(number, family + ": a histogram sample needs _bucket, _sum or _count");
      }
      if (sample.name.ends_with("_bucket") != sample.labels.contains("le")) {
        return fail(number, sample.name + ": le belongs to the buckets, and only to them");
      }
    }
    if (!series.emplace(sample.name, sample.labels).second) {
      return fail(number, sample.name + ": the same series twice");
    }
    result.samples.push_back(std::move(sample));
  }

  // Histograms: per series, buckets by increasing le ending at +Inf, cumulative,
  // the last one equal to _count, and a _sum.
  for (const auto& [name, family] : result.families) {
    if (family.type != "histogram") {
      continue;
    }
    std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> buckets;
    for (const ExpositionSample& sample : result.samples) {
      if (sample.name != name + "_bucket") {
        continue;
      }
      auto labels = sample.labels;
      auto le = parse_value(labels["le"]);
      if (!le) {
        return fail(0, name + ": bad le \"" + labels["le"] + "\"");
      }
      labels.erase("le");
      buckets[labels].emplace_back(*le, sample.value);
    }
    for (const auto& [labels, list] : buckets) {
      if (list.empty() || !std::isinf(list.back().first)) {
        return fail(0, name + ": no +Inf bucket last");
      }
      for (std::size_t k = 1; k < list.size(); ++k) {
        if (list[k].first <= list[k - 1].first) {
          return fail(0, name + ": le not increasing");
        }
        if (list[k].second < list[k - 1].second) {
          return fail(0, name + ": buckets not cumulative");
        }
      }
      auto count = result.value(name + "_count", labels);
      if (!count || *count != list.back().second) {
        return fail(0, name + ": _count missing or not the +Inf bucket");
      }
      if (!result.value(name + "_sum", labels)) {
        return fail(0, name + ": _sum missing");
      }
    }
    for (const ExpositionSample& sample : result.samples) {
      if ((sample.name == name + "_count" || sample.name == name + "_sum") &&
          !buckets.contains(sample.labels)) {
        return fail(0, sample.name + ": a series without buckets");
      }
    }
  }
  return result;
}

}  // namespace haveri::testing
