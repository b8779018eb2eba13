#include "activity.hpp"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <stdexcept>
#include <utility>
#include <vector>

#include <openssl/evp.h>

#include <haveri/utf8.hpp>

#include "adaptive_card.hpp"

namespace haveri::teams {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxIdempotencyKeyBytes = 512;
// The host refuses a message with more files, and a form submission with more values
// (daemon/src/incident_service.cpp); more can only come from a forged card.
constexpr std::size_t kMaxFiles = 20;
constexpr std::size_t kMaxFormValues = 50;
constexpr std::string_view kFileDownloadInfo = "application/vnd.microsoft.teams.file.download.info";
constexpr std::string_view kMessageIdMarker = ";messageid=";
// Values quoted in a reason are cut here: the reason goes to a log line, and the value
// came from whoever sent the request.
constexpr std::size_t kMaxQuotedBytes = 64;
// Mentions paired per message: people mention a handful; more is a forged activity, and
// pairing is quadratic.
constexpr std::size_t kMaxMentionElements = 256;
constexpr std::size_t kMaxMentionEntities = 64;
// Card data is our own flat object plus the card's inputs; a deeper one is forged, and
// copying it recurses once per level.
constexpr std::size_t kMaxCardDataDepth = 16;
// The command grammar refuses a person's id or name longer than this
// (core/src/commands.cpp, kMaxUserIdBytes).
constexpr std::size_t kMaxPersonBytes = 200;
constexpr std::string_view kNoBreakSpace = "\xC2\xA0";

// ---------------------------------------------------------------------------------------
// UTF-8

using sdk::is_valid_utf8;
using sdk::kReplacement;

// The length of the well-formed UTF-8 sequence at `at`, or 0.
std::size_t utf8_sequence_at(std::string_view text, std::size_t at) {
  return sdk::sequence_length(text, at);
}

void append_code_point(std::string& out, std::uint32_t cp) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    out += kReplacement;
  } else if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Every string and key of `root` is UTF-8. Iterative: a hostile document may nest deeper
// than the stack.
bool all_strings_utf8(const json& root) {
  std::vector<const json*> pending{&root};
  while (!pending.empty()) {
    const json* value = pending.back();
    pending.pop_back();
    if (value->is_string()) {
      if (!is_valid_utf8(value->get_ref<const std::string&>())) {
        return false;
      }
    } else if (value->is_object()) {
      for (auto it = value->begin(); it != value->end(); ++it) {
        if (!is_valid_utf8(it.key())) {
          return false;
        }
        pending.push_back(&it.value());
      }
    } else if (value->is_array()) {
      for (const json& element : *value) {
        pending.push_back(&element);
      }
    }
  }
  return true;
}

// No deeper than `max_depth`: copying (or printing) a json recurses once per level.
bool nesting_within(const json& root, std::size_t max_depth) {
  std::vector<std::pair<const json*, std::size_t>> pending{{&root, 0}};
  while (!pending.empty()) {
    const auto [value, depth] = pending.back();
    pending.pop_back();
    if (!value->is_structured()) {
      continue;
    }
    if (depth >= max_depth) {
      return false;
    }
    for (const json& element : *value) {
      pending.emplace_back(&element, depth + 1);
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Text

char lower_ascii(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower_ascii(a[i]) != lower_ascii(b[i])) {
      return false;
    }
  }
  return true;
}

bool is_ascii_letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Spaces people see: ASCII white space and the no-break space (U+00A0) that Teams puts
// after a mention.
std::size_t space_width_at(std::string_view text, std::size_t at) {
  const char c = text[at];
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
    return 1;
  }
  if (c == '\xC2' && at + 1 < text.size() && text[at + 1] == '\xA0') {
    return 2;
  }
  return 0;
}

std::string_view trim(std::string_view text) {
  while (!text.empty()) {
    const std::size_t width = space_width_at(text, 0);
    if (width == 0) {
      break;
    }
    text.remove_prefix(width);
  }
  while (!text.empty()) {
    if (space_width_at(text, text.size() - 1) == 1) {
      text.remove_suffix(1);
    } else if (text.size() >= 2 && space_width_at(text, text.size() - 2) == 2) {
      text.remove_suffix(2);
    } else {
      break;
    }
  }
  return text;
}

std::string quoted(std::string_view value) {
  if (value.size() <= kMaxQuotedBytes) {
    return "\"" + std::string(value) + "\"";
  }
  std::size_t cut = kMaxQuotedBytes;
  // Back off to a character boundary so that the reason stays valid UTF-8.
  while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  return "\"" + std::string(value.substr(0, cut)) + "…\"";
}

// An HTML tag at `at` (text[at] == '<'): '<', an optional '/', an ASCII letter, and
// everything up to the next '>'. Attribute values are not parsed for quoted '>': Teams
// escapes them, and a quote-aware scan can be made to rescan the rest of a hostile text
// at every '<'.
struct Tag {
  std::string name;  // lower case
  bool closing = false;
  std::size_t end = 0;  // one past '>'
};

std::optional<Tag> tag_at(std::string_view text, std::size_t at, std::size_t last_gt) {
  if (last_gt == std::string_view::npos || at > last_gt) {
    return std::nullopt;  // unterminated: the '<' is text
  }
  Tag tag;
  std::size_t i = at + 1;
  if (i < text.size() && text[i] == '/') {
    tag.closing = true;
    ++i;
  }
  if (i >= text.size() || !is_ascii_letter(text[i])) {
    return std::nullopt;  // "a < b", "<3": text
  }
  while (i < text.size() && (is_ascii_letter(text[i]) || (text[i] >= '0' && text[i] <= '9') ||
                             text[i] == '-' || text[i] == ':')) {
    tag.name += lower_ascii(text[i]);
    ++i;
  }
  const std::size_t close = text.find('>', i);
  if (close == std::string_view::npos) {
    return std::nullopt;
  }
  tag.end = close + 1;
  return tag;
}

// <br> and <hr> always break a line; the end of a block (</p>, </div>, </li>, …) breaks it
// unless a break is already there, so that nested blocks make one break, not several.
enum class LineBreak { none, always, block };

LineBreak line_break_of(const Tag& tag) {
  const std::string& name = tag.name;
  if (name == "br" || name == "hr") {
    return LineBreak::always;
  }
  if (tag.closing &&
      (name == "p" || name == "div" || name == "li" || name == "tr" || name == "blockquote" ||
       name == "pre" || name == "table" || name == "ul" || name == "ol" ||
       (name.size() == 2 && name[0] == 'h' && name[1] >= '1' && name[1] <= '6'))) {
    return LineBreak::block;
  }
  return LineBreak::none;
}

// Decodes the character reference at `at` (text[at] == '&') into `out`; returns how many
// bytes it took, or 0 when it is not one we know (the '&' is then text).
std::size_t decode_entity(std::string_view text, std::size_t at, std::string& out) {
  // The longest reference we accept is "&#x10FFFF;" / "&#1114111;": looking no further
  // keeps a text of many '&' linear.
  const std::size_t semicolon = text.substr(0, at + 11).find(';', at + 1);
  if (semicolon == std::string_view::npos) {
    return 0;
  }
  const std::string_view body = text.substr(at + 1, semicolon - at - 1);
  const std::size_t taken = semicolon - at + 1;
  if (body.size() >= 2 && body[0] == '#') {
    const bool hex = body[1] == 'x' || body[1] == 'X';
    const std::string_view digits = body.substr(hex ? 2 : 1);
    if (digits.empty() || digits.size() > 7) {
      return 0;
    }
    std::uint32_t cp = 0;
    for (const char c : digits) {
      std::uint32_t digit = 0;
      if (c >= '0' && c <= '9') {
        digit = static_cast<std::uint32_t>(c - '0');
      } else if (hex && lower_ascii(c) >= 'a' && lower_ascii(c) <= 'f') {
        digit = static_cast<std::uint32_t>(lower_ascii(c) - 'a' + 10);
      } else {
        return 0;
      }
      cp = cp * (hex ? 16 : 10) + digit;
    }
    append_code_point(out, cp);
    return taken;
  }
  if (body == "amp") {
    out += '&';
  } else if (body == "lt") {
    out += '<';
  } else if (body == "gt") {
    out += '>';
  } else if (body == "quot") {
    out += '"';
  } else if (body == "apos") {
    out += '\'';
  } else if (body == "nbsp") {
    // A plain space: what people see, and what the command grammar splits words on.
    out += ' ';
  } else {
    return 0;
  }
  return taken;
}

// Trims every line, keeps at most one blank line between lines of text, drops blank
// lines at both ends.
std::string tidy_lines(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool blank_pending = false;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    const std::string_view line = trim(text.substr(start, end - start));
    if (line.empty()) {
      blank_pending = !out.empty();
    } else {
      if (!out.empty()) {
        out += blank_pending ? "\n\n" : "\n";
      }
      out += line;
      blank_pending = false;
    }
    start = end + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// JSON access: never throws on a wrong type.

const json* member(const json* value, const char* key) {
  if (value == nullptr || !value->is_object()) {
    return nullptr;
  }
  const auto it = value->find(key);
  return it == value->end() ? nullptr : &*it;
}

const json* object_member(const json* value, const char* key) {
  const json* found = member(value, key);
  return found != nullptr && found->is_object() ? found : nullptr;
}

std::optional<std::string_view> string_member(const json* value, const char* key) {
  const json* found = member(value, key);
  if (found == nullptr || !found->is_string()) {
    return std::nullopt;
  }
  return std::string_view(found->get_ref<const std::string&>());
}

// Ids and names must be non-empty to say anything.
std::optional<std::string_view> id_member(const json* value, const char* key) {
  auto id = string_member(value, key);
  if (id && id->empty()) {
    return std::nullopt;
  }
  return id;
}

// ---------------------------------------------------------------------------------------
// Mentions

// An <at>…</at> element of a message's text.
struct AtElement {
  std::size_t begin = 0;        // at '<' of "<at"
  std::size_t inner_begin = 0;  // after the opening tag's '>'
  std::size_t inner_end = 0;    // at '<' of "</at>"
  std::size_t end = 0;          // after "</at>"
};

std::vector<AtElement> at_elements(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    c = lower_ascii(c);
  }
  std::vector<AtElement> elements;
  std::size_t from = 0;
  while (from < lower.size()) {
    const std::size_t open = lower.find("<at", from);
    if (open == std::string::npos) {
      break;
    }
    const std::size_t after_name = open + 3;
    if (after_name < lower.size() && lower[after_name] != '>' &&
        space_width_at(lower, after_name) != 1) {
      from = after_name;  // "<atom>": another tag
      continue;
    }
    const std::size_t open_end = lower.find('>', after_name);
    if (open_end == std::string::npos) {
      break;
    }
    const std::size_t close = lower.find("</at>", open_end + 1);
    if (close == std::string::npos) {
      break;  // no element can close after this one either
    }
    elements.push_back(AtElement{open, open_end + 1, close, close + 5});
    if (elements.size() == kMaxMentionElements) {
      break;
    }
    from = close + 5;
  }
  return elements;
}

// A mention entity: {"type":"mention","mentioned":{"id":…,"name":…},"text":"<at>…</at>"}.
struct MentionEntity {
  std::string_view id;
  std::string_view name;  // mentioned.name, or ""
  std::string_view text;
  std::string text_key;  // mention_key(text)
  std::string name_key;  // mention_key(mentioned.name)
  bool is_bot = false;
};

std::string mention_key(std::string_view html);

std::vector<MentionEntity> mention_entities(const json& activity, const BotIdentity& bot) {
  std::vector<MentionEntity> mentions;
  const json* entities = member(&activity, "entities");
  if (entities == nullptr || !entities->is_array()) {
    return mentions;
  }
  const std::string bot_id = bot.bot_id();
  for (const json& entity : *entities) {
    const auto type = string_member(&entity, "type");
    if (!type || !iequals(*type, "mention")) {
      continue;
    }
    const json* mentioned = object_member(&entity, "mentioned");
    const auto id = id_member(mentioned, "id");
    if (!id) {
      continue;
    }
    MentionEntity mention;
    mention.id = *id;
    mention.name = string_member(mentioned, "name").value_or(std::string_view{});
    mention.text = string_member(&entity, "text").value_or(std::string_view{});
    mention.text_key = mention_key(mention.text);
    mention.name_key = mention_key(string_member(mentioned, "name").value_or(""));
    // App ids are GUIDs, which Teams may spell in either case.
    mention.is_bot = !bot.app_id.empty() && iequals(*id, bot_id);
    mentions.push_back(std::move(mention));
    if (mentions.size() == kMaxMentionEntities) {
      break;
    }
  }
  return mentions;
}

// What a mention says, for comparing an element with an entity: its plain text without a
// leading '@', in lower case.
std::string mention_key(std::string_view html) {
  std::string text = plain_text(html);
  std::string_view view = trim(text);
  if (!view.empty() && view.front() == '@') {
    view = trim(view.substr(1));
  }
  std::string key(view);
  for (char& c : key) {
    c = lower_ascii(c);
  }
  return key;
}

// The entity each element stands for (an index into `mentions`, or -1), pairing them in
// order: Teams lists mention entities in the order of the text, and one person mentioned
// twice has two entities with the same text.
std::vector<int> pair_mentions(std::string_view text, const std::vector<AtElement>& elements,
                               const std::vector<MentionEntity>& mentions) {
  std::vector<int> owner(elements.size(), -1);
  std::vector<bool> used(mentions.size(), false);
  for (std::size_t e = 0; e < elements.size(); ++e) {
    const AtElement& element = elements[e];
    const std::string_view raw = text.substr(element.begin, element.end - element.begin);
    const std::string key =
        mention_key(text.substr(element.inner_begin, element.inner_end - element.inner_begin));
    for (std::size_t m = 0; m < mentions.size() && owner[e] < 0; ++m) {
      if (used[m]) {
        continue;
      }
      // Older clients put "<at>@Name</at>" in the entity and "<at>Name</at>" in the text.
      const bool same =
          (!mentions[m].text.empty() && mentions[m].text == raw) ||
          (!key.empty() && (mentions[m].text_key == key || mentions[m].name_key == key));
      if (same) {
        owner[e] = static_cast<int>(m);
        used[m] = true;
      }
    }
  }
  return owner;
}

std::string without_incident_word(std::string_view command) {
  constexpr std::string_view kIncident = "incident";
  command = trim(command);
  if (command.size() >= kIncident.size() &&
      iequals(command.substr(0, kIncident.size()), kIncident) &&
      (command.size() == kIncident.size() || space_width_at(command, kIncident.size()) > 0)) {
    command = trim(command.substr(kIncident.size()));
  }
  return command.empty() ? std::string("help") : std::string(command);
}

// ---------------------------------------------------------------------------------------
// Activities

std::string conversation_type_of(const json& activity) {
  const json* conversation = object_member(&activity, "conversation");
  if (const auto type = id_member(conversation, "conversationType")) {
    return std::string(*type);
  }
  // Older payloads leave conversationType out.
  const json* channel_data = object_member(&activity, "channelData");
  const auto id = string_member(conversation, "id").value_or(std::string_view{});
  if (id.find(kMessageIdMarker) != std::string_view::npos ||
      object_member(channel_data, "channel") != nullptr ||
      object_member(channel_data, "team") != nullptr) {
    return "channel";
  }
  const json* is_group = member(conversation, "isGroup");
  if (is_group != nullptr && is_group->is_boolean() && is_group->get<bool>()) {
    return "groupChat";
  }
  return "personal";
}

std::optional<std::string_view> tenant_of(const json& activity) {
  const json* channel_data = object_member(&activity, "channelData");
  if (const auto tenant = id_member(object_member(channel_data, "tenant"), "id")) {
    return tenant;
  }
  return id_member(object_member(&activity, "conversation"), "tenantId");
}

ConversationRef conversation_ref(const json& activity) {
  ConversationRef ref;
  const json* conversation = object_member(&activity, "conversation");
  const json* team = object_member(object_member(&activity, "channelData"), "team");
  ref.service_url = std::string(string_member(&activity, "serviceUrl").value_or(""));
  ref.tenant_id = std::string(tenant_of(activity).value_or(""));
  ref.team_id = std::string(string_member(team, "id").value_or(""));
  ref.team_aad_group_id = std::string(string_member(team, "aadGroupId").value_or(""));
  ref.conversation_id = std::string(string_member(conversation, "id").value_or(""));
  if (conversation != nullptr) {
    ref.conversation_type = conversation_type_of(activity);
  }
  return ref;
}

std::string sha256_hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(std::size_t{2} * length);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0x0F];
  }
  return hex;
}

// The host refuses keys over 512 bytes; a digest keeps long ones unique and stable.
std::string idempotency_key(std::string key) {
  if (key.size() <= kMaxIdempotencyKeyBytes) {
    return key;
  }
  return "teams:sha256:" + sha256_hex(key);
}

// What every event of one activity shares.
struct Delivery {
  const json& activity;
  const BotIdentity& bot;
  std::string_view activity_id;
  std::string_view conversation_id;
  std::string_view tenant;
  std::string channel_id;        // without ";messageid=…"
  std::string_view thread_root;  // the ";messageid=" value, or ""
  std::optional<std::string_view> channel_name;
  const json* from;
};

json user_of(const json* account) {
  json user = json::object();
  const auto aad_object_id = id_member(account, "aadObjectId");
  user["id"] = std::string(aad_object_id ? *aad_object_id : *id_member(account, "id"));
  if (const auto name = id_member(account, "name")) {
    user["name"] = std::string(*name);
  }
  return user;
}

json neutral_event(const Delivery& delivery, std::string_view type, std::string key, json user) {
  json channel{{"id", delivery.channel_id}};
  if (delivery.channel_name) {
    channel["name"] = std::string(*delivery.channel_name);
  }
  return json{{"v", 1},
              {"type", std::string(type)},
              {"idempotency_key", idempotency_key(std::move(key))},
              {"installation", std::string(delivery.tenant)},
              {"channel", std::move(channel)},
              {"user", std::move(user)}};
}

std::string message_key(const Delivery& delivery) {
  return "teams:" + std::string(delivery.conversation_id) + ":" + std::string(delivery.activity_id);
}

void ignore(ActivityTranslation& out, std::string reason) {
  out.ignored_because = std::move(reason);
}

// A file type as Teams names it ("pdf") as a media type, for the few that incident
// channels see; others are left out rather than guessed.
std::optional<std::string_view> media_type_of(std::string_view file_type) {
  struct Known {
    std::string_view extension;
    std::string_view media_type;
  };
  static constexpr std::array<Known, 16> kKnown{{
      {"pdf", "application/pdf"},
      {"txt", "text/plain"},
      {"log", "text/plain"},
      {"csv", "text/csv"},
      {"json", "application/json"},
      {"xml", "application/xml"},
      {"zip", "application/zip"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"mp4", "video/mp4"},
      {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
      {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
      {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
      {"vsdx", "application/vnd.ms-visio.drawing"},
  }};
  for (const Known& known : kKnown) {
    if (iequals(file_type, known.extension)) {
      return known.media_type;
    }
  }
  return std::nullopt;
}

bool looks_like_media_type(std::string_view type) {
  const std::size_t slash = type.find('/');
  return slash != std::string_view::npos && slash > 0 && slash + 1 < type.size() &&
         type.find_first_of(" \t\r\n*") == std::string_view::npos;  // "image/*" is none
}

// Attachments as references only (docs/plugin-abi.md): never bytes, and never a link that
// carries its own credential.
json file_references(const json& activity) {
  json files = json::array();
  const json* attachments = member(&activity, "attachments");
  if (attachments == nullptr || !attachments->is_array()) {
    return files;
  }
  for (const json& attachment : *attachments) {
    if (files.size() >= kMaxFiles) {
      break;
    }
    const auto content_type = string_member(&attachment, "contentType").value_or("");
    const auto name = id_member(&attachment, "name");
    const auto content_url = id_member(&attachment, "contentUrl");
    json reference = json::object();
    if (content_type == kFileDownloadInfo) {
      const json* content = object_member(&attachment, "content");
      const auto unique_id = id_member(content, "uniqueId");
      // downloadUrl carries a tempauth token that lets anyone fetch the file for about an
      // hour: recorded in the timeline it would be a leaked credential, then a dead link.
      // contentUrl is where the file lives in SharePoint/OneDrive; opening it takes the
      // reader's own access.
      std::optional<std::string_view> url = content_url;
      if (!url) {
        url = id_member(content, "downloadUrl");
        if (url && url->find("tempauth=") != std::string_view::npos) {
          url.reset();
        }
      }
      if (!unique_id && !url) {
        continue;
      }
      reference["id"] = std::string(unique_id ? *unique_id : *url);
      // The host refuses a file without a name.
      reference["name"] = std::string(name ? *name : unique_id ? *unique_id : *url);
      if (url) {
        reference["url"] = std::string(*url);
      }
      if (const auto file_type = id_member(content, "fileType")) {
        if (const auto media_type = media_type_of(*file_type)) {
          reference["mimetype"] = std::string(*media_type);
        }
      }
    } else if (content_url && content_type != "text/html" &&
               !content_type.starts_with("application/vnd.microsoft.card.") &&
               !content_type.starts_with("application/vnd.microsoft.teams.card.")) {
      // Inline images and other hosted content: the URL is the Bot Connector's attachment
      // view, fetched with the bot's token.
      reference["id"] = std::string(*content_url);
      reference["name"] = name                                 ? std::string(*name)
                          : content_type.starts_with("image/") ? std::string("image")
                                                               : std::string("attachment");
      reference["url"] = std::string(*content_url);
      if (looks_like_media_type(content_type)) {
        reference["mimetype"] = std::string(content_type);
      }
    } else {
      continue;
    }
    files.push_back(std::move(reference));
  }
  return files;
}

// A form answer as the host takes it: a string.
std::optional<std::string> answer_text(const json& value) {
  if (value.is_string()) {
    return value.get<std::string>();
  }
  if (value.is_boolean()) {
    return value.get<bool>() ? "true" : "false";
  }
  if (value.is_number()) {
    return value.dump();
  }
  return std::nullopt;
}

// The data of an Action.Submit (message `value`) or an Action.Execute (invoke
// value.action.data), with the card's inputs merged in by Teams.
void translate_card_data(const Delivery& delivery, const json& data, std::string_view verb,
                         ActivityTranslation& out) {
  std::string_view action = string_member(&data, "haveri_action").value_or("");
  if (action.empty()) {
    // Our Action.Execute buttons also say it in their verb.
    if (verb == kCommandVerb) {
      action = "command";
    } else if (verb == kFormVerb) {
      action = "form";
    }
  }
  const auto replied_to = id_member(&delivery.activity, "replyToId");
  if (action == "command") {
    const std::string_view command = trim(string_member(&data, "command").value_or(""));
    if (command.empty()) {
      return ignore(out, "card action: a command button without a command");
    }
    json event = neutral_event(delivery, "command", message_key(delivery), user_of(delivery.from));
    event["text"] = without_incident_word(command);
    if (replied_to) {
      event["message_id"] = std::string(*replied_to);
    }
    out.events.push_back(std::move(event));
    return;
  }
  if (action == "form") {
    const auto form_id = id_member(&data, "form_id");
    if (!form_id) {
      return ignore(out, "card action: a form submission without a form_id");
    }
    json values = json::object();
    for (auto it = data.begin(); it != data.end(); ++it) {
      if (it.key().starts_with("haveri_") || it.key() == "form_id") {
        continue;
      }
      if (auto answer = answer_text(it.value())) {
        values[it.key()] = std::move(*answer);
      }
    }
    if (values.size() > kMaxFormValues) {
      return ignore(out, "card action: a form submission with more than " +
                             std::to_string(kMaxFormValues) + " answers");
    }
    json event =
        neutral_event(delivery, "form_submission", message_key(delivery), user_of(delivery.from));
    event["form_id"] = std::string(*form_id);
    event["values"] = std::move(values);
    if (replied_to) {
      event["message_id"] = std::string(*replied_to);
    }
    out.events.push_back(std::move(event));
    return;
  }
  ignore(out, action.empty() ? std::string("card action: not a Haveri card (no haveri_action)")
                             : "card action: unknown haveri_action " + quoted(action));
}

// An id the command grammar reads back whole inside "<@…>".
bool is_writable_user_id(std::string_view id) {
  if (id.size() > kMaxPersonBytes) {
    return false;
  }
  for (std::size_t at = 0; at < id.size(); ++at) {
    if (std::string_view("<>@|").find(id[at]) != std::string_view::npos ||
        space_width_at(id, at) > 0) {
      return false;
    }
  }
  return true;
}

// A display name as one word of a command: '|' '>' '<' '@' and control characters
// dropped, runs of spaces one U+00A0, cut at a character boundary.
std::string person_name(std::string_view raw) {
  std::string name;
  bool gap = false;
  for (std::size_t at = 0; at < raw.size();) {
    if (const std::size_t width = space_width_at(raw, at); width > 0) {
      gap = !name.empty();
      at += width;
      continue;
    }
    const auto c = static_cast<unsigned char>(raw[at]);
    const std::size_t length = utf8_sequence_at(raw, at);
    if (length == 0 || c < 0x20 || c == 0x7F || c == '|' || c == '>' || c == '<' || c == '@') {
      ++at;
      continue;
    }
    if (name.size() + (gap ? kNoBreakSpace.size() : 0) + length > kMaxPersonBytes) {
      break;
    }
    if (gap) {
      name += kNoBreakSpace;
      gap = false;
    }
    name.append(raw.substr(at, length));
    at += length;
  }
  return name;
}

std::string escaped_html(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else {
      out += c;
    }
  }
  return out;
}

bool only_space_between(std::string_view text, const AtElement& left, const AtElement& right) {
  return trim(plain_text(text.substr(left.end, right.begin - left.end))).empty();
}

// A command's text and the people written into it as "<@id|name>".
struct CommandOfMessage {
  std::string text;
  std::vector<std::string> mentioned_user_ids;
};

// The command in text[from…]: mentions of people as "<@id|name>" (see command_text), the
// rest plain_text.
CommandOfMessage command_from(std::string_view text, std::size_t from,
                              const std::vector<AtElement>& elements, const std::vector<int>& owner,
                              const std::vector<MentionEntity>& mentions) {
  const auto person_of = [&](std::size_t e) -> const MentionEntity* {
    if (owner[e] < 0) {
      return nullptr;
    }
    const MentionEntity& mention = mentions[static_cast<std::size_t>(owner[e])];
    return mention.is_bot || !is_writable_user_id(mention.id) ? nullptr : &mention;
  };
  CommandOfMessage out;
  std::string html;
  html.reserve(text.size() - from);
  std::size_t copied = from;
  for (std::size_t e = 0; e < elements.size(); ++e) {
    const MentionEntity* person = elements[e].begin >= from ? person_of(e) : nullptr;
    if (person == nullptr) {
      continue;
    }
    std::size_t last = e;
    while (last + 1 < elements.size() && person_of(last + 1) != nullptr &&
           person_of(last + 1)->id == person->id &&
           only_space_between(text, elements[last], elements[last + 1])) {
      ++last;
    }
    // Each word's entity may carry the whole name or just its word.
    std::vector<std::string_view> names;
    for (std::size_t k = e; k <= last; ++k) {
      const std::string_view name = mentions[static_cast<std::size_t>(owner[k])].name;
      if (!name.empty() && std::find(names.begin(), names.end(), name) == names.end()) {
        names.push_back(name);
      }
    }
    std::string joined;
    for (const std::string_view name : names) {
      joined.append(" ").append(name);
    }
    for (std::size_t k = e; k <= last && names.empty(); ++k) {
      const AtElement& element = elements[k];
      joined += " " + plain_text(text.substr(element.inner_begin,
                                             element.inner_end - element.inner_begin));
    }
    const std::string name = person_name(joined);
    html.append(text.substr(copied, elements[e].begin - copied));
    html += escaped_html("<@" + std::string(person->id) + (name.empty() ? "" : "|" + name) + ">");
    copied = elements[last].end;
    const std::string id(person->id);
    if (std::find(out.mentioned_user_ids.begin(), out.mentioned_user_ids.end(), id) ==
        out.mentioned_user_ids.end()) {
      out.mentioned_user_ids.push_back(id);
    }
    e = last;
  }
  html.append(text.substr(copied));
  out.text = without_incident_word(plain_text(html));
  return out;
}

std::optional<CommandOfMessage> command_of(const json& activity, const BotIdentity& bot) {
  try {
    const std::string_view text = string_member(&activity, "text").value_or("");
    const bool personal = conversation_type_of(activity) == "personal";
    const std::vector<MentionEntity> mentions = mention_entities(activity, bot);
    const std::vector<AtElement> elements = at_elements(text);
    const std::vector<int> owner = pair_mentions(text, elements, mentions);
    const auto is_bot_element = [&](std::size_t e) {
      return owner[e] >= 0 && mentions[static_cast<std::size_t>(owner[e])].is_bot;
    };
    bool bot_mentioned = false;
    for (const MentionEntity& mention : mentions) {
      bot_mentioned = bot_mentioned || mention.is_bot;
    }
    std::optional<std::size_t> at;  // the element addressing the bot
    if (bot_mentioned) {
      for (std::size_t e = 0; e < elements.size() && !at; ++e) {
        if (is_bot_element(e)) {
          at = e;
        }
      }
      // The entity says the bot was mentioned but matches no element's text: the first
      // element that stands for nobody else.
      for (std::size_t e = 0; e < elements.size() && !at; ++e) {
        if (owner[e] < 0) {
          at = e;
        }
      }
      if (!at) {
        return command_from(text, 0, elements, owner, mentions);
      }
    } else if (mentions.empty() && !elements.empty()) {
      at = 0;  // no mention entities at all: the first <at> is taken for the bot
    } else {
      if (personal) {
        return command_from(text, 0, elements, owner, mentions);
      }
      return std::nullopt;  // people mentioned, not the bot: said to them
    }
    // Teams splits a mention of a name with spaces into one element per word
    // ("<at>Haveri</at> <at>Bot</at>"), each with an entity for the same id.
    std::size_t last = *at;
    while (last + 1 < elements.size() && is_bot_element(last + 1) &&
           only_space_between(text, elements[last], elements[last + 1])) {
      ++last;
    }
    return command_from(text, elements[last].end, elements, owner, mentions);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void translate_message(const Delivery& delivery, ActivityTranslation& out) {
  const json& activity = delivery.activity;
  const json* text_member = member(&activity, "text");
  if (text_member != nullptr && !text_member->is_null() && !text_member->is_string()) {
    return ignore(out, "message: text is not a string");
  }
  const std::string_view text = string_member(&activity, "text").value_or("");
  const json* value = object_member(&activity, "value");
  if (value != nullptr && trim(text).empty()) {
    // An Action.Submit: the card's data and inputs, no text.
    if (const auto replied_to = id_member(&activity, "replyToId")) {
      out.replied_to_activity = std::string(*replied_to);
    }
    return translate_card_data(delivery, *value, "", out);
  }
  if (auto command = command_of(activity, delivery.bot)) {
    json event = neutral_event(delivery, "command", message_key(delivery), user_of(delivery.from));
    event["text"] = std::move(command->text);
    out.mentioned_user_ids = std::move(command->mentioned_user_ids);
    event["message_id"] = std::string(delivery.activity_id);
    out.events.push_back(std::move(event));
    return;
  }
  std::string said = plain_text(text);
  json files = file_references(activity);
  if (said.empty() && files.empty()) {
    return ignore(out, "message: neither text nor files");
  }
  json event = neutral_event(delivery, "message", message_key(delivery), user_of(delivery.from));
  event["text"] = std::move(said);
  event["message_id"] = std::string(delivery.activity_id);
  // A channel thread's root message has its own id after ";messageid="; replies carry
  // the root's.
  if (!delivery.thread_root.empty() && delivery.thread_root != delivery.activity_id) {
    event["thread_id"] = std::string(delivery.thread_root);
  }
  if (!files.empty()) {
    event["files"] = std::move(files);
  }
  out.events.push_back(std::move(event));
}

void translate_invoke(const Delivery& delivery, ActivityTranslation& out) {
  const json& activity = delivery.activity;
  const auto name = string_member(&activity, "name");
  if (!name || *name != "adaptiveCard/action") {
    return ignore(out, "invoke " + quoted(name.value_or("(no name)")) + " is not handled");
  }
  out.is_card_action_invoke = true;
  const json* value = object_member(&activity, "value");
  const json* action = object_member(value, "action");
  out.card_action_verb = std::string(string_member(action, "verb").value_or(""));
  if (const auto replied_to = id_member(&activity, "replyToId")) {
    out.replied_to_activity = std::string(*replied_to);
  }
  const json* data = object_member(action, "data");
  if (data != nullptr && !nesting_within(*data, kMaxCardDataDepth)) {
    return ignore(out, "adaptiveCard/action: the data is nested too deeply");
  }
  if (data != nullptr) {
    out.card_action_data = *data;
  }
  if (action == nullptr) {
    return ignore(out, "adaptiveCard/action: no value.action object");
  }
  // Teams sends "automatic" when a card with a refresh section is shown: nobody acted.
  if (string_member(value, "trigger") == "automatic") {
    return ignore(out, "adaptiveCard/action: an automatic refresh, not a person's action");
  }
  translate_card_data(delivery, out.card_action_data, out.card_action_verb, out);
}

void translate_update(const Delivery& delivery, ActivityTranslation& out) {
  const json& activity = delivery.activity;
  const auto event_type =
      string_member(object_member(&activity, "channelData"), "eventType").value_or("editMessage");
  if (event_type != "editMessage") {
    return ignore(out, "messageUpdate " + quoted(event_type) + " is not an edit");
  }
  const auto text = string_member(&activity, "text");
  if (!text) {
    return ignore(out, "messageUpdate: no text");
  }
  std::string said = plain_text(*text);
  // One message can be edited many times: each edit is its own event, and a redelivery of
  // one edit repeats its timestamp. Without a timestamp the new text tells edits apart.
  const auto timestamp = id_member(&activity, "timestamp");
  const std::string edit =
      timestamp ? std::string(*timestamp) : "text-" + sha256_hex(said).substr(0, 32);
  json event = neutral_event(delivery, "message_changed",
                             "teams:edit:" + std::string(delivery.conversation_id) + ":" +
                                 std::string(delivery.activity_id) + ":" + edit,
                             user_of(delivery.from));
  event["message_id"] = std::string(delivery.activity_id);
  event["text"] = std::move(said);
  out.events.push_back(std::move(event));
}

void translate_delete(const Delivery& delivery, ActivityTranslation& out) {
  const auto event_type =
      string_member(object_member(&delivery.activity, "channelData"), "eventType")
          .value_or("softDeleteMessage");
  if (event_type != "softDeleteMessage") {
    return ignore(out, "messageDelete " + quoted(event_type) + " is not a deletion");
  }
  json event = neutral_event(delivery, "message_deleted",
                             "teams:delete:" + std::string(delivery.conversation_id) + ":" +
                                 std::string(delivery.activity_id),
                             user_of(delivery.from));
  event["message_id"] = std::string(delivery.activity_id);
  out.events.push_back(std::move(event));
}

void translate_conversation_update(const Delivery& delivery, ActivityTranslation& out) {
  const json* added = member(&delivery.activity, "membersAdded");
  if (added == nullptr || !added->is_array() || added->empty()) {
    const auto event_type =
        string_member(object_member(&delivery.activity, "channelData"), "eventType");
    return ignore(out, "conversationUpdate " + quoted(event_type.value_or("(no eventType)")) +
                           " adds no members");
  }
  const std::string bot_id = delivery.bot.bot_id();
  for (const json& account : *added) {
    const auto id = id_member(&account, "id");
    if (!id) {
      continue;
    }
    if (!delivery.bot.app_id.empty() && iequals(*id, bot_id)) {
      out.bot_installed = true;
      continue;
    }
    out.events.push_back(
        neutral_event(delivery, "member_joined",
                      "teams:join:" + std::string(delivery.activity_id) + ":" + std::string(*id),
                      user_of(&account)));
  }
  if (out.events.empty()) {
    ignore(out, out.bot_installed ? "conversationUpdate: the bot itself was added"
                                  : "conversationUpdate: no member with an id");
  }
}

ActivityTranslation malformed(ActivityTranslation out, std::string reason) {
  out.malformed = true;
  out.events.clear();
  out.ignored_because = std::move(reason);
  return out;
}

ActivityTranslation translate(const json& activity, const BotIdentity& bot) {
  ActivityTranslation out;
  if (!activity.is_object()) {
    return malformed(std::move(out), "the activity is not a JSON object");
  }
  if (!all_strings_utf8(activity)) {
    return malformed(std::move(out), "the activity holds a string that is not UTF-8");
  }
  out.conversation = conversation_ref(activity);
  const auto type = id_member(&activity, "type");
  const auto id = id_member(&activity, "id");
  const json* conversation = object_member(&activity, "conversation");
  const auto conversation_id = id_member(conversation, "id");
  const json* from = object_member(&activity, "from");
  const auto tenant = tenant_of(activity);
  if (!type) {
    return malformed(std::move(out), "the activity has no type");
  }
  if (!id) {
    return malformed(std::move(out), "the activity has no id");
  }
  if (!conversation_id) {
    return malformed(std::move(out), "the activity has no conversation.id");
  }
  if (!id_member(from, "id")) {
    return malformed(std::move(out), "the activity has no from.id");
  }
  if (!tenant) {
    return malformed(std::move(out),
                     "the activity names no tenant (channelData.tenant.id, conversation.tenantId)");
  }
  if (!bot.app_id.empty() && iequals(*id_member(from, "id"), bot.bot_id())) {
    ignore(out, std::string(*type) + " from the bot itself");
    return out;
  }
  const std::size_t marker = conversation_id->find(kMessageIdMarker);
  std::string_view thread_root;
  if (marker != std::string_view::npos) {
    thread_root = conversation_id->substr(marker + kMessageIdMarker.size());
    thread_root = thread_root.substr(0, thread_root.find(';'));
  }
  const Delivery delivery{
      activity,
      bot,
      *id,
      *conversation_id,
      *tenant,
      std::string(conversation_id->substr(0, marker)),
      thread_root,
      id_member(object_member(object_member(&activity, "channelData"), "channel"), "name"),
      from};
  if (*type == "message") {
    translate_message(delivery, out);
  } else if (*type == "invoke") {
    translate_invoke(delivery, out);
  } else if (*type == "messageUpdate") {
    translate_update(delivery, out);
  } else if (*type == "messageDelete") {
    translate_delete(delivery, out);
  } else if (*type == "conversationUpdate") {
    translate_conversation_update(delivery, out);
  } else {
    // installationUpdate (conversationUpdate says the same), typing, messageReaction, …
    ignore(out, "activity type " + quoted(*type) + " is not one Haveri records");
  }
  return out;
}

}  // namespace

std::string plain_text(std::string_view teams_html) {
  std::string decoded;
  decoded.reserve(teams_html.size());
  const std::size_t last_gt = teams_html.rfind('>');
  bool comments_end = true;  // false once a "<!--" found no "-->": none later will either
  // The last thing written is a break made by markup: line ends in the source right after
  // it are layout of the HTML, not of the text ("</p>\n<p>").
  bool markup_break = false;
  for (std::size_t at = 0; at < teams_html.size();) {
    const char c = teams_html[at];
    if (c == '<') {
      if (teams_html.substr(at).starts_with("<!--")) {
        const std::size_t close =
            comments_end ? teams_html.find("-->", at + 4) : std::string_view::npos;
        if (close != std::string_view::npos) {
          at = close + 3;
          continue;
        }
        comments_end = false;
      } else if (const auto tag = tag_at(teams_html, at, last_gt)) {
        const LineBreak line_break = line_break_of(*tag);
        if (line_break == LineBreak::always || (line_break == LineBreak::block && !markup_break)) {
          decoded += '\n';
          markup_break = true;
        }
        at = tag->end;
        continue;
      }
      decoded += '<';
      markup_break = false;
      ++at;
    } else if (c == '&') {
      const std::size_t taken = decode_entity(teams_html, at, decoded);
      if (taken == 0) {
        decoded += '&';
        ++at;
      } else {
        at += taken;
      }
      markup_break = markup_break && decoded.back() == ' ';
    } else if (c == '\r' || c == '\n') {
      if (!markup_break) {
        decoded += '\n';
      }
      at += c == '\r' && at + 1 < teams_html.size() && teams_html[at + 1] == '\n' ? 2 : 1;
    } else {
      const std::size_t length = utf8_sequence_at(teams_html, at);
      if (length == 0) {
        decoded += kReplacement;
        ++at;
        markup_break = false;
      } else {
        decoded.append(teams_html.substr(at, length));
        markup_break = markup_break && (c == ' ' || c == '\t');
        at += length;
      }
    }
  }
  return tidy_lines(decoded);
}

std::optional<std::string> command_text(const nlohmann::json& activity, const BotIdentity& bot) {
  auto command = command_of(activity, bot);
  if (!command) {
    return std::nullopt;
  }
  return std::move(command->text);
}

std::string replace_mentioned_ids(std::string_view text,
                                  const std::map<std::string, std::string>& ids) {
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0;
  for (std::size_t open = text.find("<@"); open != std::string_view::npos;) {
    const std::size_t id_begin = open + 2;
    // Stopping at '<' too keeps this linear on "<@<@<@…".
    const std::size_t id_end = text.find_first_of("|><", id_begin);
    if (id_end == std::string_view::npos) {
      break;
    }
    if (text[id_end] != '<') {
      const auto found = ids.find(std::string(text.substr(id_begin, id_end - id_begin)));
      if (found != ids.end()) {
        out.append(text.substr(copied, id_begin - copied));
        out += found->second;
        copied = id_end;
      }
    }
    open = text.find("<@", id_end);
  }
  out.append(text.substr(copied));
  return out;
}

ActivityTranslation translate_activity(const nlohmann::json& activity, const BotIdentity& bot) {
  try {
    return translate(activity, bot);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& error) {
    // Only our own bug can get here: the activity is refused rather than the plugin lost.
    ActivityTranslation out;
    out.malformed = true;
    out.ignored_because = std::string("the activity could not be translated: ") + error.what();
    return out;
  }
}

}  // namespace haveri::teams
