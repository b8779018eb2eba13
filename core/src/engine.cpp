#include <algorithm>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

#include <haveri/core/engine.hpp>
#include <haveri/policy/escalation.hpp>
#include <haveri/policy/policy.hpp>
#include <haveri/policy/time_zone.hpp>

namespace haveri::core {

namespace {

using nlohmann::json;

// Host-only members of a stored operation, removed before the plugin sees it.
constexpr const char* kInternal = "_haveri";
// How long an operation waits when the store failed while preparing or recording it.
constexpr std::chrono::milliseconds kStoreRetryDelay{2000};
// Incidents a search reply shows at most.
constexpr std::size_t kSearchHits = 10;
// Names tried for one incident channel: inc-7-slug, inc-7-slug-2, … inc-7-slug-20.
constexpr int kMaxChannelNameAttempts = 20;

std::string lane_of(const ChannelRef& channel) {
  return channel.instance + "/" + channel.id;
}

std::string incident_lane(IncidentId id) {
  return "incident:" + std::to_string(id);
}

// Cuts `text` to at most `limit` bytes on a UTF-8 boundary.
std::string cut_utf8(const std::string& text, std::size_t limit) {
  if (text.size() <= limit) {
    return text;
  }
  std::size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0U) == 0x80U) {
    --end;
  }
  return text.substr(0, end);
}

OutboxEntry entry_for(std::string organization, std::string instance, std::string lane,
                      std::string operation_key, json operation, std::optional<IncidentId> incident,
                      TimePoint now, std::string coalesce_key = {}) {
  OutboxEntry entry;
  entry.organization = std::move(organization);
  entry.instance = std::move(instance);
  entry.lane = std::move(lane);
  entry.coalesce_key = std::move(coalesce_key);
  operation["v"] = 1;
  operation["operation_key"] = operation_key;
  entry.operation_key = std::move(operation_key);
  entry.operation = operation.dump();
  entry.incident = incident;
  entry.not_before = now;
  entry.created_at = now;
  return entry;
}

// A string member of untrusted JSON (a plugin's result), or empty.
std::string text_member(const json& object, const char* key) {
  if (!object.is_object()) {
    return {};
  }
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string platform_of_member_id(const std::string& platform, const std::string& user_id) {
  return platform + ":" + user_id;
}

}  // namespace

IncidentEngine::IncidentEngine(EventStore& store, std::shared_ptr<const Directory> directory,
                               IncidentSettings settings, OutboxSettings outbox_settings,
                               const WallClock& clock)
    : store_(store),
      directory_(std::move(directory)),
      settings_(settings),
      clock_(clock),
      outbox_settings_(outbox_settings),
      scheduler_(outbox_settings) {}

VoidResult IncidentEngine::start() {
  auto pending = store_.pending_outbox();
  if (!pending) {
    return pending.error();
  }
  schedule(std::move(pending.value()));
  remove_superseded();
  resync_timers_ = true;  // the daemon's wheel starts empty: give it every pending step
  started_at_ = clock_.now();
  return Done{};
}

void IncidentEngine::set_directory(std::shared_ptr<const Directory> directory) {
  directory_ = std::move(directory);
}

void IncidentEngine::set_policies(std::shared_ptr<const policy::PolicySet> policies) {
  policies_ = std::move(policies);
}

void IncidentEngine::set_time_zones(std::shared_ptr<policy::TimeZoneDatabase> zones) {
  zones_ = std::move(zones);
}

void IncidentEngine::set_instance_platforms(std::map<std::string, std::string> platforms) {
  platforms_ = std::move(platforms);
}

std::vector<EventPayload> IncidentEngine::escalation_events_for(
    const Incident& before, const std::vector<EventPayload>& decided,
    const Organization& organization, TimePoint now) {
  static const policy::PolicySet no_policies;
  if (!zones_) {
    zones_ = std::make_shared<policy::TimeZoneDatabase>();
  }
  Incident after = before;
  Sequence sequence = before.last_sequence;
  for (const EventPayload& payload : decided) {
    after = apply(std::move(after), Event{before.id, ++sequence, now, Actor::system(), payload});
  }
  return policy::escalation_events(before, after, decided, policies_ ? *policies_ : no_policies,
                                   organization, now, *zones_);
}

namespace {

std::vector<EscalationTimer> timers_of(const Incident& incident) {
  std::vector<EscalationTimer> timers;
  if (incident.escalation) {
    for (const EscalationStep& step : incident.escalation->pending) {
      timers.push_back(EscalationTimer{incident.id, incident.escalation->started_by, step.step,
                                       step.round, step.due});
    }
  }
  return timers;
}

bool changes_escalation(const std::vector<Event>& committed) {
  return std::any_of(committed.begin(), committed.end(), [](const Event& event) {
    return std::holds_alternative<EscalationStarted>(event.payload) ||
           std::holds_alternative<EscalationStopped>(event.payload) ||
           std::holds_alternative<Escalated>(event.payload);
  });
}

}  // namespace

void IncidentEngine::note_escalation_change(const Incident& after,
                                            const std::vector<Event>& committed) {
  if (!changes_escalation(committed)) {
    return;
  }
  (hold_outbox_ ? held_timers_ : settled_timers_)[after.id] = timers_of(after);
}

Result<std::vector<EscalationTimer>> IncidentEngine::pending_escalations() {
  auto incidents = store_.incidents_with_timed_work();
  if (!incidents) {
    return incidents.error();
  }
  std::vector<EscalationTimer> timers;
  for (const Incident& incident : incidents.value()) {
    for (EscalationTimer& timer : timers_of(incident)) {
      timers.push_back(timer);
    }
  }
  return timers;
}

EscalationTimerUpdate IncidentEngine::take_escalation_updates() {
  EscalationTimerUpdate update;
  if (resync_timers_) {
    auto all = pending_escalations();
    if (all) {
      resync_timers_ = false;
      settled_timers_.clear();
      update.replace_all = true;
      update.timers = std::move(all.value());
      return update;
    }
    last_problem_ = all.error().message;  // tried again on the next call
  }
  for (auto& [incident, timers] : settled_timers_) {
    update.incidents.push_back(incident);
    for (EscalationTimer& timer : timers) {
      update.timers.push_back(timer);
    }
  }
  settled_timers_.clear();
  return update;
}

InboundOutcome IncidentEngine::fire_escalation(const EscalationTimer& timer) {
  auto loaded = store_.incident(timer.incident);
  if (!loaded) {
    last_problem_ = loaded.error().message;
    return InboundOutcome::retry_later;
  }
  if (!loaded.value() || !directory_) {
    return InboundOutcome::committed;  // gone: nothing to page for
  }
  const Incident& incident = *loaded.value();
  const Organization* organization = directory_->organization(incident.organization);
  if (organization == nullptr) {
    // Its organization left the directory: record the step as fired, paging nobody,
    // so it does not wait in the store for a restart.
    if (!incident.escalation || incident.escalation->started_by != timer.chain) {
      return InboundOutcome::committed;
    }
    const auto& pending = incident.escalation->pending;
    const auto step = std::find_if(pending.begin(), pending.end(), [&](const EscalationStep& s) {
      return s.step == timer.step && s.round == timer.round;
    });
    if (step == pending.end()) {
      return InboundOutcome::committed;
    }
    Escalated nobody;
    nobody.policy = incident.escalation->policy;
    nobody.step = step->step;
    nobody.round = step->round;
    nobody.chain = timer.chain;
    nobody.due = step->due;
    nobody.instance = incident.declared_in.instance;
    nobody.unreachable = {"organization " + incident.organization +
                          " is no longer in the directory"};
    AppendRequest request;
    request.incident = incident.id;
    request.expected_last_sequence = incident.last_sequence;
    request.events.push_back(Event{0, 0, clock_.now(), Actor::system(), std::move(nobody)});
    return commit(std::move(request));
  }
  if (!zones_) {
    zones_ = std::make_shared<policy::TimeZoneDatabase>();
  }
  const TimePoint now = clock_.now();
  const auto platform_of = [this](std::string_view instance) {
    const auto found = platforms_.find(std::string(instance));
    return found != platforms_.end() ? found->second : std::string(instance);
  };
  auto page = policy::fire_step(incident, timer.chain, timer.step, timer.round, *organization,
                                platform_of, now, *zones_, started_at_);
  if (!page) {
    return InboundOutcome::committed;
  }
  AppendRequest request;
  request.incident = incident.id;
  request.expected_last_sequence = incident.last_sequence;
  request.events.push_back(Event{0, 0, now, Actor::system(), std::move(*page)});
  return commit(std::move(request));
}

void IncidentEngine::set_limits(const std::string& instance, InstanceLimits limits) {
  limits_[instance] = limits;
  scheduler_.set_limits(instance, limits);
}

Result<std::optional<IncidentId>> IncidentEngine::channel_incident(const Organization& organization,
                                                                   const ChannelRef& channel) {
  auto id = store_.incident_by_channel(organization.id, channel.instance, channel.id);
  if (!id || id.value()) {
    return id;
  }
  // Incidents stored before organizations existed belong to no organization; their
  // channels still work for whoever owns the installation now.
  return store_.incident_by_channel("", channel.instance, channel.id);
}

InboundOutcome IncidentEngine::handle(const InboundEvent& event) {
  last_problem_.clear();
  remove_superseded();
  const Organization* organization =
      directory_ ? directory_->organization_for(event.platform, event.installation) : nullptr;
  if (organization == nullptr) {
    last_problem_ =
        "no organization claims " + event.platform + " installation \"" + event.installation + "\"";
    return InboundOutcome::refused;
  }
  if (!event.idempotency_key.empty()) {
    auto seen = store_.has_receipt(event.idempotency_key);
    if (!seen) {
      last_problem_ = seen.error().message;
      return InboundOutcome::retry_later;
    }
    if (seen.value()) {
      return InboundOutcome::committed;  // a platform retry of what is already stored
    }
  }
  switch (event.type) {
    case InboundEvent::Type::command:
    case InboundEvent::Type::form_submission:
      return handle_command(event, *organization);
    case InboundEvent::Type::message:
      return handle_message(event, *organization);
    case InboundEvent::Type::message_changed:
    case InboundEvent::Type::message_deleted:
      return handle_edit(event, *organization);
  }
  return InboundOutcome::committed;
}

// The member behind a chat user: from the directory, else from the store, else
// recorded now (first seen). nullopt only when the store failed.
std::optional<Actor> IncidentEngine::member_actor(const Organization& organization,
                                                  const std::string& platform, const Actor& user) {
  Actor actor = user;
  if (const Member* known = organization.member_by_identity(platform, user.id)) {
    actor.member = known->id;
    if (!known->name.empty()) {
      actor.display_name = known->name;
    }
    return actor;
  }
  auto stored = store_.member_by_identity(organization.id, platform, user.id);
  if (!stored) {
    last_problem_ = stored.error().message;
    return std::nullopt;
  }
  if (stored.value()) {
    actor.member = stored.value()->id;
    return actor;
  }
  Member seen;
  seen.id = platform_of_member_id(platform, user.id);
  seen.name = user.display_name.empty() ? user.id : user.display_name;
  seen.role = "responder";
  seen.identities[platform] = user.id;
  auto recorded = store_.record_member(organization.id, seen, clock_.now());
  if (!recorded) {
    last_problem_ = recorded.error().message;
    return std::nullopt;
  }
  actor.member = seen.id;
  return actor;
}

bool IncidentEngine::resolve_mentions(Command& command, const Organization& organization,
                                      const std::string& platform, std::string& problem) {
  const auto resolve = [&](std::optional<Actor>& person) {
    if (!person) {
      return true;
    }
    // "@bob" may name a member by directory id or by platform user id.
    if (const Member* by_id = organization.member(person->id)) {
      auto identity = by_id->identities.find(platform);
      Actor actor{identity != by_id->identities.end() ? identity->second : person->id,
                  by_id->name.empty() ? by_id->id : by_id->name, by_id->id};
      person = std::move(actor);
      return true;
    }
    auto actor = member_actor(organization, platform, *person);
    if (!actor) {
      problem = last_problem_;
      return false;
    }
    person = std::move(*actor);
    return true;
  };
  if (auto* lead = std::get_if<LeadCommand>(&command)) {
    return resolve(lead->person);
  }
  if (auto* comms = std::get_if<CommsCommand>(&command)) {
    return resolve(comms->person);
  }
  if (auto* follow_up = std::get_if<FollowUpCommand>(&command)) {
    return resolve(follow_up->assignee) && resolve(follow_up->list_person);
  }
  return true;
}

// The operation key of a reply: stable across retries of a keyed inbound event,
// unique for an unkeyed one.
std::string IncidentEngine::reply_key(const InboundEvent& event) {
  if (!event.idempotency_key.empty()) {
    return "reply:" + event.idempotency_key;
  }
  return "reply:unkeyed-" + std::to_string(clock_.now().time_since_epoch().count()) + "-" +
         std::to_string(++unkeyed_replies_);
}

InboundOutcome IncidentEngine::reply_only(const InboundEvent& event, const Message& reply,
                                          bool privately) {
  AppendRequest request;
  request.idempotency_key = event.idempotency_key;
  const std::string key = reply_key(event);
  json operation = {{"type", "post_message"},
                    {"channel", channel_to_json(event.channel)},
                    {"message", message_to_json(reply)}};
  if (privately) {
    operation["visible_to"] = event.user.id;
  }
  const Organization* organization =
      directory_->organization_for(event.platform, event.installation);
  request.outbox.push_back(entry_for(organization ? organization->id : "", event.channel.instance,
                                     lane_of(event.channel), key, std::move(operation),
                                     std::nullopt, clock_.now()));
  return commit(std::move(request));
}

InboundOutcome IncidentEngine::handle_command(const InboundEvent& event,
                                              const Organization& organization) {
  std::variant<Command, CommandError> parsed =
      event.type == InboundEvent::Type::form_submission
          ? parse_form_submission(event.form_id, event.values)
          : parse_command(event.text);
  if (auto* error = std::get_if<CommandError>(&parsed)) {
    return reply_only(event, error_reply(*error), true);
  }
  Command& command = std::get<Command>(parsed);
  auto caller = member_actor(organization, event.platform, event.user);
  if (!caller) {
    return InboundOutcome::retry_later;
  }
  std::string problem;
  if (!resolve_mentions(command, organization, event.platform, problem)) {
    last_problem_ = problem;
    return InboundOutcome::retry_later;
  }

  // The incident concerned: the one a form names, else the channel's.
  std::optional<Incident> incident;
  std::optional<IncidentId> id;
  if (event.type == InboundEvent::Type::form_submission) {
    id = form_incident(event.form_id);
  }
  // A page's button names its incident: only one of the caller's organization will do.
  bool by_number = false;
  if (const auto* ack = std::get_if<AckCommand>(&command); ack != nullptr && ack->incident) {
    id = ack->incident;
    by_number = true;
  }
  if (!id) {
    auto by_channel = channel_incident(organization, event.channel);
    if (!by_channel) {
      last_problem_ = by_channel.error().message;
      return InboundOutcome::retry_later;
    }
    id = by_channel.value();
  }
  if (id) {
    auto loaded = store_.incident(*id);
    if (!loaded) {
      last_problem_ = loaded.error().message;
      return InboundOutcome::retry_later;
    }
    // Another organization's incident is as good as none.
    if (loaded.value() && (loaded.value()->organization == organization.id ||
                           (loaded.value()->organization.empty() && !by_number))) {
      incident = std::move(*loaded.value());
    }
  }
  const TimePoint now = clock_.now();

  // Queries are answered from the store.
  if (const auto* timeline = std::get_if<TimelineCommand>(&command)) {
    if (!incident) {
      return reply_only(event,
                        refusal_reply(Error{ErrorCode::refused,
                                            "`/incident timeline` works only in an incident "
                                            "channel."}),
                        true);
    }
    auto events = store_.events(incident->id);
    if (!events) {
      last_problem_ = events.error().message;
      return InboundOutcome::retry_later;
    }
    return reply_only(
        event, timeline_reply(*incident, events.value(), static_cast<std::size_t>(timeline->count)),
        true);
  }
  if (const auto* list = std::get_if<ListCommand>(&command)) {
    auto incidents = store_.incidents(organization.id);
    if (!incidents) {
      last_problem_ = incidents.error().message;
      return InboundOutcome::retry_later;
    }
    return reply_only(event, incident_list_reply(incidents.value(), list->include_closed, now),
                      true);
  }
  if (const auto* search = std::get_if<SearchCommand>(&command)) {
    auto hits = store_.search(organization.id, search->query, kSearchHits);
    if (!hits) {
      if (hits.error().code == ErrorCode::invalid_argument) {
        return reply_only(event, refusal_reply(hits.error()), true);
      }
      last_problem_ = hits.error().message;
      return InboundOutcome::retry_later;
    }
    return reply_only(event, search_reply(search->query, hits.value()), true);
  }
  if (const auto* follow_up = std::get_if<FollowUpCommand>(&command);
      follow_up && follow_up->action == FollowUpCommand::Action::list &&
      (!incident || !follow_up->list_scope.empty())) {
    std::optional<std::string> member;
    std::string heading = "Follow-ups in " + organization.name;
    if (follow_up->list_scope == "person" && follow_up->list_person) {
      member = follow_up->list_person->member;
      heading = "Follow-ups of " + follow_up->list_person->display_name;
    } else if (follow_up->list_scope != "all") {
      member = caller->member;
      heading = "Your follow-ups";
    }
    auto items = store_.follow_ups(
        organization.id, member ? std::optional<std::string_view>(*member) : std::nullopt, false);
    if (!items) {
      last_problem_ = items.error().message;
      return InboundOutcome::retry_later;
    }
    return reply_only(event, follow_up_list_reply(heading, items.value(), now), true);
  }

  DecisionContext context{event.channel, *caller, now, &organization};
  auto decision = decide(incident ? &*incident : nullptr, command, context);
  if (!decision) {
    return reply_only(event, refusal_reply(decision.error()), true);
  }
  if (decision->events.empty()) {
    if (decision->reply) {
      return reply_only(event, *decision->reply, decision->reply_privately);
    }
    return InboundOutcome::committed;
  }
  const bool declares = std::holds_alternative<Declared>(decision->events.front());
  // A declaration typed in another incident's channel starts from nothing; an
  // incident from before organizations existed has no policies to follow.
  if (declares || (incident && !incident->organization.empty())) {
    for (EventPayload& payload : escalation_events_for(declares ? Incident{} : *incident,
                                                       decision->events, organization, now)) {
      decision->events.push_back(std::move(payload));
    }
  }
  const bool first_acknowledgement =
      incident && !incident->acknowledged_at &&
      std::any_of(decision->events.begin(), decision->events.end(),
                  [](const EventPayload& payload) {
                    return std::holds_alternative<Acknowledged>(payload);
                  });
  AppendRequest request;
  if (!declares) {
    request.incident = incident->id;
    request.expected_last_sequence = incident->last_sequence;
  }
  request.idempotency_key = event.idempotency_key;
  for (auto& payload : decision->events) {
    request.events.push_back(Event{0, 0, now, *caller, std::move(payload)});
  }
  if (decision->reply) {
    json operation = {{"type", "post_message"},
                      {"channel", channel_to_json(event.channel)},
                      {"message", message_to_json(*decision->reply)}};
    if (decision->reply_privately) {
      operation["visible_to"] = event.user.id;
    }
    request.outbox.push_back(entry_for(organization.id, event.channel.instance,
                                       lane_of(event.channel), reply_key(event) + ":1",
                                       std::move(operation), std::nullopt, now));
  }
  return commit(std::move(request), first_acknowledgement);
}

InboundOutcome IncidentEngine::handle_message(const InboundEvent& event,
                                              const Organization& organization) {
  auto id = channel_incident(organization, event.channel);
  if (!id) {
    last_problem_ = id.error().message;
    return InboundOutcome::retry_later;
  }
  if (!id.value()) {
    return InboundOutcome::committed;  // chatter outside incident channels is not recorded
  }
  auto incident = store_.incident(*id.value());
  if (!incident || !incident.value()) {
    last_problem_ = incident ? "incident vanished" : incident.error().message;
    return InboundOutcome::retry_later;
  }
  auto author = member_actor(organization, event.platform, event.user);
  if (!author) {
    return InboundOutcome::retry_later;
  }
  const TimePoint now = clock_.now();
  AppendRequest request;
  request.incident = incident.value()->id;
  request.expected_last_sequence = incident.value()->last_sequence;
  request.idempotency_key = event.idempotency_key;
  if (!event.text.empty() || event.files.empty()) {
    MessagePosted posted{cut_utf8(event.text, kMaxMessageBytes), event.channel, event.message_id,
                         event.text.size() > kMaxMessageBytes};
    if (posted.truncated) {
      posted.text += "\n[… truncated: the message had " + std::to_string(event.text.size()) +
                     " bytes; " + std::to_string(kMaxMessageBytes) + " are kept]";
    }
    request.events.push_back(Event{0, 0, now, *author, std::move(posted)});
  }
  for (const FileReference& file : event.files) {
    request.events.push_back(Event{0, 0, now, *author,
                                   AttachmentAdded{file.id, file.name, file.size, file.url,
                                                   file.mime_type, event.message_id}});
  }
  return commit(std::move(request));
}

InboundOutcome IncidentEngine::handle_edit(const InboundEvent& event,
                                           const Organization& organization) {
  auto id = channel_incident(organization, event.channel);
  if (!id) {
    last_problem_ = id.error().message;
    return InboundOutcome::retry_later;
  }
  if (!id.value()) {
    return InboundOutcome::committed;
  }
  auto events = store_.events(*id.value());
  if (!events || events.value().empty()) {
    last_problem_ = events ? "incident without events" : events.error().message;
    return InboundOutcome::retry_later;
  }
  std::optional<Sequence> original;
  for (const Event& stored : events.value()) {
    if (const auto* posted = std::get_if<MessagePosted>(&stored.payload);
        posted && !event.message_id.empty() && posted->platform_message_id == event.message_id) {
      original = stored.sequence;
    }
  }
  if (!original) {
    return InboundOutcome::committed;  // an edit of something never recorded
  }
  auto author = member_actor(organization, event.platform, event.user);
  if (!author) {
    return InboundOutcome::retry_later;
  }
  std::string text =
      event.type == InboundEvent::Type::message_deleted
          ? std::string(kMessageDeletedText)
          : std::string(kMessageEditedPrefix) + cut_utf8(event.text, kMaxMessageBytes);
  AppendRequest request;
  request.incident = *id.value();
  request.expected_last_sequence = events.value().back().sequence;
  request.idempotency_key = event.idempotency_key;
  request.events.push_back(
      Event{0, 0, clock_.now(), *author, Annotation{std::move(text), original}});
  return commit(std::move(request));
}

std::vector<OutboxEntry> IncidentEngine::outbox_of(const Incident& after,
                                                   const std::vector<Event>& committed,
                                                   const std::string& key_prefix) {
  std::vector<OutboxEntry> entries;
  const TimePoint now = clock_.now();
  int index = 0;
  const Organization* organization =
      directory_ ? directory_->organization(after.organization) : nullptr;
  for (Effect& effect : effects_of(after, committed, settings_, now, organization)) {
    const std::string key = key_prefix + std::to_string(index++);
    std::visit(
        [&](auto& item) {
          using Item = std::decay_t<decltype(item)>;
          if constexpr (std::is_same_v<Item, CreateIncidentChannel>) {
            json operation = {{"type", "create_channel"},
                              {"name", item.name},
                              {"topic", item.topic},
                              {kInternal, {{"incident", item.incident}, {"attempt", 1}}}};
            entries.push_back(entry_for(after.organization, item.instance,
                                        incident_lane(item.incident), key, std::move(operation),
                                        item.incident, now));
          } else if constexpr (std::is_same_v<Item, PostToIncident>) {
            json operation = {{"type", "post_message"},
                              {"message", message_to_json(item.message)},
                              {kInternal, {{"incident", item.incident}, {"target", "incident"}}}};
            entries.push_back(entry_for(after.organization, after.declared_in.instance,
                                        incident_lane(item.incident), key, std::move(operation),
                                        item.incident, now));
          } else if constexpr (std::is_same_v<Item, PostMessage>) {
            json operation = {{"type", "post_message"},
                              {"channel", channel_to_json(item.channel)},
                              {"message", message_to_json(item.message)}};
            if (!item.visible_to.empty()) {
              operation["visible_to"] = item.visible_to;
            }
            entries.push_back(entry_for(after.organization, item.channel.instance,
                                        lane_of(item.channel), key, std::move(operation), after.id,
                                        now));
          } else if constexpr (std::is_same_v<Item, InviteToIncident>) {
            json operation = {{"type", "invite"},
                              {"users", item.users},
                              {kInternal, {{"incident", item.incident}, {"target", "incident"}}}};
            entries.push_back(entry_for(after.organization, after.declared_in.instance,
                                        incident_lane(item.incident), key, std::move(operation),
                                        item.incident, now));
          } else if constexpr (std::is_same_v<Item, PagePerson>) {
            json operation = {{"type", "notify_person"},
                              {"user", {{"id", item.user}}},
                              {"message", message_to_json(item.message)}};
            entries.push_back(entry_for(after.organization, item.instance,
                                        "page:" + item.instance + ":" + item.user, key,
                                        std::move(operation), after.id, now));
          } else {
            static_assert(std::is_same_v<Item, PublishGlobalCard>);
            json operation = {{"type", item.first ? "post_message" : "update_message"},
                              {"channel", channel_to_json(item.channel)},
                              {"message", message_to_json(item.card)},
                              {kInternal, {{"incident", item.incident}, {"global_card", true}}}};
            // Edits of one card coalesce; its first post must never be superseded.
            entries.push_back(
                entry_for(after.organization, item.channel.instance, lane_of(item.channel), key,
                          std::move(operation), item.incident, now,
                          item.first ? "" : "global-card:" + std::to_string(item.incident)));
          }
        },
        effect);
  }
  return entries;
}

InboundOutcome IncidentEngine::commit(AppendRequest request, bool first_acknowledgement) {
  if (!request.events.empty()) {
    request.outbox_of = [this](const Incident& after, const std::vector<Event>& committed) {
      const std::string prefix = "INC-" + std::to_string(after.id) + ":" +
                                 std::to_string(committed.front().sequence) + "-" +
                                 std::to_string(committed.back().sequence) + ":";
      return outbox_of(after, committed, prefix);
    };
  }
  auto outcome = store_.append(request);
  if (!outcome) {
    last_problem_ = outcome.error().message;
    return InboundOutcome::retry_later;
  }
  note_escalation_change(outcome->state, outcome->committed);
  if (first_acknowledgement && !outcome->duplicate && outcome->state.acknowledged_at) {
    first_acknowledgements_.push_back(FirstAcknowledgement{
        outcome->state.id, outcome->state.severity,
        std::chrono::duration_cast<std::chrono::milliseconds>(*outcome->state.acknowledged_at -
                                                              outcome->state.declared_at)});
  }
  queue(std::move(outcome->outbox));
  return InboundOutcome::committed;
}

std::vector<FirstAcknowledgement> IncidentEngine::take_first_acknowledgements() {
  return std::exchange(first_acknowledgements_, {});
}

void IncidentEngine::queue(std::vector<OutboxEntry> entries) {
  if (hold_outbox_) {
    for (OutboxEntry& entry : entries) {
      held_.push_back(std::move(entry));
    }
    return;
  }
  schedule(std::move(entries));
  remove_superseded();
}

void IncidentEngine::schedule(std::vector<OutboxEntry> entries) {
  for (OutboxEntry& entry : entries) {
    for (std::int64_t id : scheduler_.add(std::move(entry))) {
      superseded_.push_back(id);
    }
  }
}

void IncidentEngine::remove_superseded() {
  if (superseded_.empty()) {
    return;
  }
  // Losing this only means sending an outdated card edit once more after a restart.
  (void)store_.outbox_remove(superseded_);
  superseded_.clear();
}

void IncidentEngine::hold_outbox(bool hold) {
  hold_outbox_ = hold;
}

std::size_t IncidentEngine::held_mark() const noexcept {
  return held_.size();
}

void IncidentEngine::drop_held(std::size_t mark) {
  // Which incidents' steps the undone job changed is not kept: read them all again.
  resync_timers_ = resync_timers_ || !held_timers_.empty();
  if (mark < held_.size()) {
    held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(mark), held_.end());
  }
}

bool IncidentEngine::settle(bool committed) {
  if (committed) {
    for (auto& [incident, timers] : held_timers_) {
      settled_timers_[incident] = std::move(timers);
    }
  } else if (!held_timers_.empty()) {
    resync_timers_ = true;
  }
  held_timers_.clear();
  std::vector<OutboxEntry> entries = std::move(held_);
  held_.clear();
  if (!committed) {
    // Results recorded in the lost batch (done, retry, failed, a created channel)
    // were applied in memory already; the store has them pending again.
    resync_outbox_ = true;
    return false;
  }
  if (entries.empty()) {
    return false;
  }
  schedule(std::move(entries));
  return true;
}

Result<std::size_t> IncidentEngine::tick() {
  remove_superseded();
  auto incidents = store_.incidents_with_timed_work();
  if (!incidents) {
    return incidents.error();
  }
  const TimePoint now = clock_.now();
  std::size_t appended = 0;
  for (const Incident& incident : incidents.value()) {
    std::vector<EventPayload> due = due_events(incident, settings_, now);
    if (due.empty()) {
      continue;
    }
    AppendRequest request;
    request.incident = incident.id;
    request.expected_last_sequence = incident.last_sequence;
    for (EventPayload& payload : due) {
      request.events.push_back(Event{0, 0, now, Actor::system(), std::move(payload)});
    }
    const std::size_t count = request.events.size();
    // A conflict means someone else wrote first; the next tick decides again.
    if (commit(std::move(request)) == InboundOutcome::committed) {
      appended += count;
    }
  }
  return appended;
}

std::optional<std::string> IncidentEngine::prepare(const OutboxEntry& entry, bool& drop,
                                                   bool& defer) {
  drop = false;
  defer = false;
  json operation = json::parse(entry.operation, nullptr, false);
  if (operation.is_discarded() || !operation.is_object()) {
    drop = true;
    return std::nullopt;
  }
  const json internal = operation.value(kInternal, json::object());
  operation.erase(kInternal);
  const IncidentId incident_id = internal.value("incident", IncidentId{0});
  std::optional<Incident> incident;
  if (incident_id != 0) {
    auto loaded = store_.incident(incident_id);
    if (!loaded) {
      defer = true;  // the store failed for now; "gone" would be a lie
      return std::nullopt;
    }
    if (loaded.value()) {
      incident = std::move(*loaded.value());
    }
  }
  if (internal.value("target", "") == "incident") {
    if (!incident) {
      drop = true;
      return std::nullopt;
    }
    if (operation.value("type", "") == "invite" && !incident->channel) {
      drop = true;  // no channel of its own: nobody to invite anywhere
      return std::nullopt;
    }
    operation["channel"] = channel_to_json(incident->channel.value_or(incident->declared_in));
  }
  if (internal.value("global_card", false) && operation.value("type", "") == "update_message") {
    if (incident && incident->global_card) {
      operation["message_id"] = incident->global_card->message_id;
    } else {
      // Its first post failed for good: post it anew, and remember that one.
      operation["type"] = "post_message";
    }
  }
  return operation.dump();
}

void IncidentEngine::resync_outbox() {
  auto pending = store_.pending_outbox();
  if (!pending) {
    return;  // tried again on the next take_due
  }
  OutboxScheduler reloaded(outbox_settings_);
  reloaded.keep_counters_of(scheduler_);
  scheduler_ = std::move(reloaded);
  for (const auto& [instance, limits] : limits_) {
    scheduler_.set_limits(instance, limits);
  }
  superseded_.clear();
  schedule(std::move(pending.value()));
  remove_superseded();
  resync_outbox_ = false;
}

std::vector<DueOperation> IncidentEngine::take_due(std::size_t max) {
  remove_superseded();
  // Once nothing is out with a plugin, memory can be made to match the store again.
  if (resync_outbox_ && in_flight_.empty()) {
    resync_outbox();
  }
  std::vector<DueOperation> due;
  for (OutboxEntry& entry : scheduler_.take_due(clock_.now(), max)) {
    bool drop = false;
    bool defer = false;
    auto operation = prepare(entry, drop, defer);
    if (defer) {
      scheduler_.defer(entry.id, clock_.now() + kStoreRetryDelay);
      continue;
    }
    if (!operation) {
      scheduler_.complete(
          entry.id, AttemptOutcome{AttemptOutcome::Kind::permanent, std::nullopt, "target gone"},
          clock_.now());
      (void)store_.outbox_failed(entry.id, entry.attempts, "its incident or channel is gone",
                                 clock_.now());
      continue;
    }
    const std::int64_t id = entry.id;
    std::string instance = entry.instance;
    in_flight_[id] = std::move(entry);
    due.push_back(DueOperation{id, std::move(instance), std::move(*operation)});
  }
  return due;
}

std::optional<TimePoint> IncidentEngine::next_due() const {
  return scheduler_.next_due(clock_.now());
}

OutboxStats IncidentEngine::outbox_stats() const {
  return scheduler_.stats();
}

std::map<std::string, InstanceOutboxStats> IncidentEngine::outbox_instance_stats() const {
  return scheduler_.instance_stats();
}

void IncidentEngine::complete(std::int64_t outbox_id, const std::string& result_json) {
  auto found = in_flight_.find(outbox_id);
  if (found == in_flight_.end()) {
    return;
  }
  OutboxEntry entry = std::move(found->second);
  in_flight_.erase(found);
  const json result = json::parse(result_json, nullptr, false);
  std::string status = text_member(result, "status");
  if (status.empty()) {
    status = "retryable";  // not an answer a plugin may give: try again later
  }
  AttemptOutcome outcome;
  outcome.kind = status == "ok"          ? AttemptOutcome::Kind::ok
                 : status == "permanent" ? AttemptOutcome::Kind::permanent
                                         : AttemptOutcome::Kind::retryable;
  if (result.is_object()) {
    if (auto hint = result.find("retry_after_ms"); hint != result.end() && hint->is_number()) {
      // Clamped as a double first: the hint comes from a platform, through a plugin.
      const double wanted = std::clamp(hint->get<double>(), 0.0, 3600000.0);
      outcome.retry_after = std::chrono::milliseconds(static_cast<std::int64_t>(wanted));
    }
    outcome.error = cut_utf8(text_member(result, "error"), 500);
  }
  if (outcome.kind != AttemptOutcome::Kind::ok && outcome.error.empty()) {
    outcome.error = status == "retryable" ? "retryable failure" : "permanent failure";
  }
  const TimePoint now = clock_.now();
  const Completion completion = scheduler_.complete(outbox_id, outcome, now);
  switch (completion.disposition) {
    case Completion::Disposition::done:
      if (on_done(entry, result_json)) {
        (void)store_.outbox_done(outbox_id);
      } else {
        // What the plugin did could not be recorded: ask again later (same key, so the
        // plugin answers with the same channel or message) instead of losing it.
        requeue(std::move(entry), completion.attempts, now + kStoreRetryDelay,
                "recording the result failed: " + last_problem_);
      }
      break;
    case Completion::Disposition::retry_scheduled:
      (void)store_.outbox_retry(outbox_id, completion.attempts, completion.next_attempt,
                                completion.error);
      break;
    case Completion::Disposition::failed: {
      (void)store_.outbox_failed(outbox_id, completion.attempts, completion.error, now);
      const json operation = json::parse(entry.operation, nullptr, false);
      if (operation.is_object() && operation.value("type", "") == "update_message" &&
          operation.value(kInternal, json::object()).value("global_card", false) &&
          text_member(result, "error_code") == "message_not_found") {
        // The card was deleted on the platform: post it anew; its id is recorded then.
        json repost = operation;
        repost["type"] = "post_message";
        AppendRequest request;
        request.outbox.push_back(entry_for(entry.organization, entry.instance, entry.lane,
                                           entry.operation_key + ":repost", std::move(repost),
                                           entry.incident, now));
        (void)commit(std::move(request));
        break;
      }
      if (!operation.is_object() || operation.value("type", "") != "create_channel") {
        break;
      }
      channel_failed(entry, operation, result, completion.error);
      break;
    }
  }
}

void IncidentEngine::requeue(OutboxEntry entry, int attempts, TimePoint not_before,
                             const std::string& why) {
  entry.attempts = attempts;
  entry.not_before = not_before;
  entry.last_error = why;
  (void)store_.outbox_retry(entry.id, attempts, not_before, why);
  scheduler_.add(std::move(entry));
}

void IncidentEngine::channel_failed(const OutboxEntry& entry, const json& operation,
                                    const json& result, const std::string& error) {
  const TimePoint now = clock_.now();
  const json internal = operation.value(kInternal, json::object());
  const IncidentId incident_id = internal.value("incident", IncidentId{0});
  const int attempt = internal.value("attempt", 1);
  auto incident = store_.incident(incident_id);
  if (!incident || !incident.value() || incident.value()->channel) {
    return;  // gone, or it has a channel after all (an earlier attempt got through)
  }
  const Incident& state = *incident.value();
  if (text_member(result, "error_code") == "name_taken" && attempt < kMaxChannelNameAttempts) {
    // The name belongs to another channel: try the next one, in the same lane.
    json retry = {{"type", "create_channel"},
                  {"name", incident_channel_name(state.id, state.title, attempt + 1)},
                  {"topic", operation.value("topic", "")},
                  {kInternal, {{"incident", state.id}, {"attempt", attempt + 1}}}};
    AppendRequest request;
    request.outbox.push_back(entry_for(entry.organization, entry.instance, entry.lane,
                                       entry.operation_key + ":name-" + std::to_string(attempt + 1),
                                       std::move(retry), state.id, now));
    (void)commit(std::move(request));
    return;
  }
  // No channel of its own: the incident is worked where it was declared, if that
  // channel is not another incident's already.
  auto owner = store_.incident_by_channel(state.organization, state.declared_in.instance,
                                          state.declared_in.id);
  const bool declared_in_free = owner && !owner.value();
  Message failure;
  failure.title = "INC-" + std::to_string(state.id) + ": the incident channel could not be created";
  failure.text =
      error + (declared_in_free ? ". Work the incident here in #" + state.declared_in.name +
                                      ": its commands and messages count in this channel."
                                : ". #" + state.declared_in.name +
                                      " already belongs to another incident; an administrator "
                                      "must create the channel (see the log).");
  AppendRequest request;
  request.outbox.push_back(entry_for(entry.organization, state.declared_in.instance,
                                     lane_of(state.declared_in), entry.operation_key + ":failed",
                                     {{"type", "post_message"},
                                      {"channel", channel_to_json(state.declared_in)},
                                      {"message", message_to_json(failure)}},
                                     state.id, now));
  if (declared_in_free) {
    request.incident = state.id;
    request.expected_last_sequence = state.last_sequence;
    request.events.push_back(Event{0, 0, now, Actor::system(), ChannelLinked{state.declared_in}});
  }
  (void)commit(std::move(request));
}

bool IncidentEngine::on_done(const OutboxEntry& entry, const std::string& result_json) {
  const json operation = json::parse(entry.operation, nullptr, false);
  const json result = json::parse(result_json, nullptr, false);
  if (!operation.is_object() || !result.is_object()) {
    return true;
  }
  const json internal = operation.value(kInternal, json::object());
  const IncidentId incident_id = internal.value("incident", IncidentId{0});
  const std::string type = operation.value("type", "");
  const bool channel_created = type == "create_channel";
  const bool card_posted = internal.value("global_card", false) &&
                           (type == "post_message" || !text_member(result, "message_id").empty());
  if (incident_id == 0 || (!channel_created && !card_posted)) {
    return true;
  }
  auto loaded = store_.incident(incident_id);
  if (!loaded) {
    last_problem_ = loaded.error().message;
    return false;
  }
  if (!loaded.value()) {
    return true;
  }
  const Incident& incident = *loaded.value();
  AppendRequest request;
  request.incident = incident.id;
  request.expected_last_sequence = incident.last_sequence;
  const TimePoint now = clock_.now();
  if (channel_created) {
    const auto channel = result.find("channel");
    if (channel == result.end() || text_member(*channel, "id").empty()) {
      return true;  // a plugin bug; logged by the daemon as a bad result
    }
    const std::string id = text_member(*channel, "id");
    const std::string name = text_member(*channel, "name");
    ChannelRef ref{entry.instance, id, name.empty() ? id : name};
    if (incident.channel) {
      return true;  // a repeated completion, or another attempt got there first
    }
    request.events.push_back(Event{0, 0, now, Actor::system(), ChannelLinked{ref}});
    request.events.push_back(
        Event{0, 0, now, Actor::system(),
              BotGuidance{"triage",
                          "1. Acknowledge (`/incident ack`) so the pager stops.\n"
                          "2. Name a lead (`/incident lead me`) and, for SEV1, a comms lead.\n"
                          "3. Answer the triage questions on the card.\n"
                          "4. Post what you learn as `/incident note …` and what you do as "
                          "`/incident action …`; move the status as things change."}});
  } else {
    const std::string message_id = text_member(result, "message_id");
    if (message_id.empty() ||
        (incident.global_card && incident.global_card->message_id == message_id)) {
      return true;
    }
    const json channel = operation.value("channel", json::object());
    ChannelRef ref{entry.instance, channel.value("id", ""), channel.value("name", "")};
    request.events.push_back(
        Event{0, 0, now, Actor::system(), GlobalCardPosted{std::move(ref), message_id}});
  }
  return commit(std::move(request)) == InboundOutcome::committed;
}

}  // namespace haveri::core
