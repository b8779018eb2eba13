#include "search_query.hpp"

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace haveri::store::sqlite {
namespace {

using core::ErrorCode;
using core::make_error;
using core::Result;

constexpr std::string_view kAsTyped = "put words in double quotes to search for them as typed";

// The query as it can be shown back: invalid UTF-8 becomes U+FFFD and control
// characters spaces, so an error message is always valid text.
std::string shown(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {
      out += byte < 0x20 || byte == 0x7f ? ' ' : static_cast<char>(byte);
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned int code_point = 0;
    if ((byte & 0xe0) == 0xc0) {
      length = 2;
      code_point = byte & 0x1fU;
    } else if ((byte & 0xf0) == 0xe0) {
      length = 3;
      code_point = byte & 0x0fU;
    } else if ((byte & 0xf8) == 0xf0) {
      length = 4;
      code_point = byte & 0x07U;
    }
    bool valid = length != 0 && i + length <= text.size();
    for (std::size_t k = 1; valid && k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      valid = (next & 0xc0) == 0x80;
      code_point = (code_point << 6U) | (next & 0x3fU);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8 either.
    constexpr std::array<unsigned int, 5> kSmallest{0, 0, 0x80, 0x800, 0x10000};
    valid = valid && code_point >= kSmallest[length] && code_point <= 0x10ffff &&
            (code_point < 0xd800 || code_point > 0xdfff);
    if (valid) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

bool is_space(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte <= 0x20 || byte == 0x7f;
}

// Whether the tokenizer can find a word in `text`: ASCII letters and digits, and
// anything not ASCII (unicode61 decides there; a non-ASCII symbol on its own is an
// empty phrase, which FTS5 ignores).
bool has_word(std::string_view text) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
        (c >= 'A' && c <= 'Z')) {
      return true;
    }
  }
  return false;
}

struct Token {
  enum class Kind { term, and_op, or_op, not_op, open, close, near };
  Kind kind = Kind::term;
  std::string text = {};  // term: FTS5 string, quoted; near: the whole NEAR(…) group
};

std::string_view operator_name(Token::Kind kind) {
  switch (kind) {
    case Token::Kind::and_op:
      return "AND";
    case Token::Kind::or_op:
      return "OR";
    case Token::Kind::not_op:
      return "NOT";
    default:
      return {};
  }
}

class Translation {
 public:
  explicit Translation(std::string_view query) : query_(query) {}

  Result<std::string> run() {
    if (auto lexed = lex(); !lexed) {
      return lexed.error();
    }
    if (tokens_.empty()) {
      return refuse("nothing to search for", "type at least one word");
    }
    auto expression = parse_or();
    if (!expression) {
      return expression;
    }
    if (next_ < tokens_.size()) {
      // parse_or stops only at a ) it did not open.
      return refuse("unbalanced parenthesis: a ) without a ( before it", kAsTyped);
    }
    return expression;
  }

 private:
  core::Error refuse(std::string_view problem, std::string_view fix) const {
    std::string message = "can't search for \"" + shown(query_) + "\": ";
    message += problem;
    message += "; ";
    message += fix;
    return make_error(ErrorCode::invalid_argument, std::move(message));
  }

  static std::string quoted(std::string_view words, bool prefix) {
    std::string out = "\"";
    out += words;
    out += '"';
    if (prefix) {
      out += '*';
    }
    return out;
  }

  core::Error misplaced_star() const {
    return refuse(
        "a * goes right after a word, for the words that start with it (pump* finds pump, "
        "pumps and pumping)",
        kAsTyped);
  }

  // A phrase from the " at `pos_`; sets `term` to its FTS5 string, or leaves it empty
  // when the phrase holds no word.
  Result<bool> lex_phrase(std::string& term) {
    const std::size_t close = query_.find('"', pos_ + 1);
    if (close == std::string_view::npos) {
      return refuse("a double quote is not closed",
                    "close it: a phrase goes between two double quotes, as in \"pump 3\"");
    }
    const std::string_view words = query_.substr(pos_ + 1, close - pos_ - 1);
    pos_ = close + 1;
    const bool prefix = pos_ < query_.size() && query_[pos_] == '*';
    if (prefix) {
      ++pos_;
    }
    if (!has_word(words)) {
      if (prefix) {
        return misplaced_star();
      }
      term.clear();
      return true;
    }
    term = quoted(words, prefix);
    return true;
  }

  // A bare word from `pos_` up to a space, a quote, a parenthesis or one of `stops`.
  // Sets `term` as lex_phrase does; `word` is the word as typed.
  Result<bool> lex_bare(std::string_view stops, std::string_view& word, std::string& term) {
    const std::size_t start = pos_;
    while (pos_ < query_.size() && !is_space(query_[pos_]) && query_[pos_] != '"' &&
           query_[pos_] != '(' && query_[pos_] != ')' &&
           stops.find(query_[pos_]) == std::string_view::npos) {
      ++pos_;
    }
    word = query_.substr(start, pos_ - start);
    std::string_view stem = word;
    const bool prefix = stem.ends_with('*');
    if (prefix) {
      stem.remove_suffix(1);
    }
    if (stem.find('*') != std::string_view::npos) {
      return misplaced_star();
    }
    if (const auto colon = stem.find(':'); colon != std::string_view::npos) {
      const std::string field(stem.substr(0, colon + 1));
      const std::string problem =
          colon == 0
              ? std::string("a colon names a field to search in, and search has none")
              : "\"" + shown(field) + "\" looks like a field to search in, and search has none";
      return refuse(problem, "put words in double quotes to search for them as typed, as in \"" +
                                 shown(stem) + "\"");
    }
    if (!has_word(stem)) {
      if (prefix) {
        return misplaced_star();
      }
      term.clear();
      return true;
    }
    term = quoted(stem, prefix);
    return true;
  }

  // NEAR( … ) from the ( at `pos_`.
  Result<std::string> lex_near() {
    const auto malformed = [this](std::string_view problem) {
      return refuse(problem,
                    "write NEAR(pump motor) or NEAR(pump motor, 5) for words at most 5 words "
                    "apart, or put words in double quotes to search for them as typed");
    };
    ++pos_;  // the (
    std::string group = "NEAR(";
    std::size_t terms = 0;
    for (;;) {
      while (pos_ < query_.size() && is_space(query_[pos_])) {
        ++pos_;
      }
      if (pos_ >= query_.size()) {
        return malformed("unbalanced parenthesis: NEAR( is not closed");
      }
      const char c = query_[pos_];
      if (c == ')') {
        ++pos_;
        break;
      }
      if (c == '(') {
        return malformed("NEAR( takes words and \"phrases\", not parentheses");
      }
      if (c == ',') {
        ++pos_;
        while (pos_ < query_.size() && is_space(query_[pos_])) {
          ++pos_;
        }
        const std::size_t digits = pos_;
        while (pos_ < query_.size() && query_[pos_] >= '0' && query_[pos_] <= '9') {
          ++pos_;
        }
        const std::string_view distance = query_.substr(digits, pos_ - digits);
        while (pos_ < query_.size() && is_space(query_[pos_])) {
          ++pos_;
        }
        if (distance.empty() || distance.size() > 6 || pos_ >= query_.size() ||
            query_[pos_] != ')') {
          return malformed("NEAR( takes a number of words after its comma, then )");
        }
        ++pos_;
        group += ", ";
        group += distance;
        break;
      }
      std::string term;
      if (c == '"') {
        if (auto lexed = lex_phrase(term); !lexed) {
          return lexed.error();
        }
      } else {
        std::string_view word;
        if (auto lexed = lex_bare(",", word, term); !lexed) {
          return lexed.error();
        }
        if (word == "AND" || word == "OR" || word == "NOT" || word == "NEAR") {
          return malformed("NEAR( takes words and \"phrases\", not " + std::string(word));
        }
      }
      if (!term.empty()) {
        group += terms == 0 ? "" : " ";
        group += term;
        ++terms;
      }
    }
    if (terms == 0) {
      return malformed("NEAR( needs words");
    }
    group += ')';
    return group;
  }

  Result<bool> lex() {
    while (pos_ < query_.size()) {
      const char c = query_[pos_];
      if (is_space(c)) {
        ++pos_;
        continue;
      }
      if (c == '(' || c == ')') {
        tokens_.push_back(Token{c == '(' ? Token::Kind::open : Token::Kind::close});
        ++pos_;
        continue;
      }
      if (c == '*') {
        return misplaced_star();
      }
      std::string term;
      if (c == '"') {
        if (auto lexed = lex_phrase(term); !lexed) {
          return lexed;
        }
      } else {
        std::string_view word;
        const std::size_t start = pos_;
        if (query_.substr(start).starts_with("NEAR(")) {
          pos_ += 4;
          auto group = lex_near();
          if (!group) {
            return group.error();
          }
          tokens_.push_back(Token{Token::Kind::near, std::move(group).value()});
          continue;
        }
        if (auto lexed = lex_bare("", word, term); !lexed) {
          return lexed;
        }
        if (word == "AND" || word == "OR" || word == "NOT") {
          tokens_.push_back(Token{word == "AND"  ? Token::Kind::and_op
                                  : word == "OR" ? Token::Kind::or_op
                                                 : Token::Kind::not_op});
          continue;
        }
      }
      if (!term.empty()) {
        tokens_.push_back(Token{Token::Kind::term, std::move(term)});
      }
    }
    return true;
  }

  const Token* peek() const { return next_ < tokens_.size() ? &tokens_[next_] : nullptr; }

  bool starts_operand() const {
    const Token* token = peek();
    return token != nullptr &&
           (token->kind == Token::Kind::term || token->kind == Token::Kind::near ||
            token->kind == Token::Kind::open);
  }

  core::Error lacks_operand(std::string_view op) const {
    const std::string name(op);
    if (op == "NOT") {
      return refuse("NOT needs words on both sides (pump NOT motor finds pump without motor)",
                    "to search for the word itself, write it in lower case or in double "
                    "quotes: \"NOT\"");
    }
    return refuse(name + " needs words on both sides, as in pump " + name + " motor",
                  "to search for the word itself, write it in lower case or in double quotes: "
                  "\"" +
                      name + "\"");
  }

  // FTS5 has the same precedence (NOT, then AND, then OR, each left-associative), so
  // the expression keeps the person's own parentheses only. Adjacent terms are joined
  // with an explicit AND: FTS5 takes adjacency as AND between phrases only.
  Result<std::string> parse_or() {
    auto left = parse_and({});
    if (!left) {
      return left;
    }
    std::string expression = std::move(left).value();
    while (peek() != nullptr && peek()->kind == Token::Kind::or_op) {
      ++next_;
      auto right = parse_and("OR");
      if (!right) {
        return right;
      }
      expression += " OR " + right.value();
    }
    return expression;
  }

  Result<std::string> parse_and(std::string_view after) {
    auto left = parse_not(after);
    if (!left) {
      return left;
    }
    std::string expression = std::move(left).value();
    for (;;) {
      std::string_view op;
      if (peek() != nullptr && peek()->kind == Token::Kind::and_op) {
        ++next_;
        op = "AND";
      } else if (!starts_operand()) {
        break;
      }
      auto right = parse_not(op);
      if (!right) {
        return right;
      }
      expression += " AND " + right.value();
    }
    return expression;
  }

  Result<std::string> parse_not(std::string_view after) {
    auto left = parse_primary(after);
    if (!left) {
      return left;
    }
    std::string expression = std::move(left).value();
    while (peek() != nullptr && peek()->kind == Token::Kind::not_op) {
      ++next_;
      auto right = parse_primary("NOT");
      if (!right) {
        return right;
      }
      expression += " NOT " + right.value();
    }
    return expression;
  }

  // `after`: the operator just read, which needs this operand; empty if none.
  Result<std::string> parse_primary(std::string_view after) {
    const Token* token = peek();
    if (token == nullptr) {
      // Only a ( at the very end leaves nothing for an operand without an operator.
      if (after.empty()) {
        return refuse("unbalanced parenthesis: a ( is not closed", kAsTyped);
      }
      return lacks_operand(after);
    }
    switch (token->kind) {
      case Token::Kind::term:
      case Token::Kind::near:
        ++next_;
        return token->text;
      case Token::Kind::open: {
        ++next_;
        if (peek() != nullptr && peek()->kind == Token::Kind::close) {
          return refuse("nothing between ( and )", "put words between them, or leave them out");
        }
        // FTS5's parser has a small stack; nobody means this many anyway.
        if (++depth_ > kMaxDepth) {
          return refuse("more than " + std::to_string(kMaxDepth) + " parentheses inside each other",
                        "leave some out");
        }
        auto inner = parse_or();
        --depth_;
        if (!inner) {
          return inner;
        }
        if (peek() == nullptr || peek()->kind != Token::Kind::close) {
          return refuse("unbalanced parenthesis: a ( is not closed", kAsTyped);
        }
        ++next_;
        return "(" + std::move(inner).value() + ")";
      }
      case Token::Kind::close:
        if (!after.empty()) {
          return lacks_operand(after);
        }
        return refuse("unbalanced parenthesis: a ) without a ( before it", kAsTyped);
      case Token::Kind::and_op:
      case Token::Kind::or_op:
      case Token::Kind::not_op:
        return lacks_operand(after.empty() ? operator_name(token->kind) : after);
    }
    return refuse("unexpected input", kAsTyped);
  }

  static constexpr int kMaxDepth = 10;

  std::string_view query_;
  std::size_t pos_ = 0;
  std::vector<Token> tokens_;
  std::size_t next_ = 0;
  int depth_ = 0;  // parentheses open while parsing
};

}  // namespace

core::Result<std::string> fts5_expression(std::string_view query) {
  if (query.size() > kMaxSearchQueryBytes) {
    return make_error(ErrorCode::invalid_argument,
                      "can't search for that: a search is at most " +
                          std::to_string(kMaxSearchQueryBytes) + " bytes and this one has " +
                          std::to_string(query.size()) + "; search for fewer words");
  }
  // FTS5 reads its expression as a C string: a NUL would end it early. Control
  // characters are never meant as search syntax, so they separate words.
  std::string cleaned(query);
  for (char& c : cleaned) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      c = ' ';
    }
  }
  return Translation(cleaned).run();
}

core::Error refused_search(std::string_view query, std::string_view problem) {
  return make_error(ErrorCode::invalid_argument, "can't search for \"" + shown(query) +
                                                     "\": " + std::string(problem) + "; " +
                                                     std::string(kAsTyped));
}

}  // namespace haveri::store::sqlite
