#pragma once
// Test support: a real EventStore whose next commits can be made to fail, as a
// full disk would: nothing of such a batch is kept.

#include <atomic>
#include <memory>

#include <haveri/core/event_store.hpp>

namespace haveri::testing {

class FailingCommitStore final : public core::EventStore {
 public:
  explicit FailingCommitStore(std::unique_ptr<core::EventStore> inner) : inner_(std::move(inner)) {}
  // Commits still to fail; any thread.
  std::atomic<int> failing_commits{0};

  core::VoidResult commit_batch() override {
    if (failing_commits > 0) {
      --failing_commits;
      return core::make_error(core::ErrorCode::storage, "disk full (test)");
    }
    return inner_->commit_batch();
  }

  template <class T>
  using R = core::Result<T>;
  R<core::AppendOutcome> append(const core::AppendRequest& r) override { return inner_->append(r); }
  R<std::vector<core::Event>> events(core::IncidentId id) override { return inner_->events(id); }
  R<std::optional<core::Incident>> incident(core::IncidentId id) override {
    return inner_->incident(id);
  }
  R<std::vector<core::Incident>> incidents(std::string_view o) override {
    return inner_->incidents(o);
  }
  R<std::vector<core::Incident>> incidents_with_timed_work() override {
    return inner_->incidents_with_timed_work();
  }
  R<bool> has_receipt(std::string_view k) override { return inner_->has_receipt(k); }
  R<std::optional<core::IncidentId>> incident_by_channel(std::string_view o, std::string_view i,
                                                         std::string_view c) override {
    return inner_->incident_by_channel(o, i, c);
  }
  R<std::vector<core::FollowUpListing>> follow_ups(std::string_view o,
                                                   std::optional<std::string_view> a,
                                                   bool d) override {
    return inner_->follow_ups(o, a, d);
  }
  R<std::optional<core::Member>> member_by_identity(std::string_view o, std::string_view p,
                                                    std::string_view u) override {
    return inner_->member_by_identity(o, p, u);
  }
  R<bool> record_member(std::string_view o, const core::Member& m, core::TimePoint t) override {
    return inner_->record_member(o, m, t);
  }
  R<std::vector<core::Member>> members(std::string_view o) override { return inner_->members(o); }
  R<std::vector<core::SearchHit>> search(std::string_view o, std::string_view q,
                                         std::size_t l) override {
    return inner_->search(o, q, l);
  }
  core::VoidResult rebuild_projections() override { return inner_->rebuild_projections(); }
  R<std::vector<std::string>> projection_rows() override { return inner_->projection_rows(); }
  core::VoidResult begin_batch() override { return inner_->begin_batch(); }
  void rollback_batch() noexcept override { inner_->rollback_batch(); }
  core::VoidResult begin_job() override { return inner_->begin_job(); }
  core::VoidResult end_job(bool keep) override { return inner_->end_job(keep); }
  R<std::vector<core::OutboxEntry>> pending_outbox() override { return inner_->pending_outbox(); }
  core::VoidResult outbox_done(std::int64_t id) override { return inner_->outbox_done(id); }
  core::VoidResult outbox_retry(std::int64_t id, int a, core::TimePoint n,
                                std::string_view e) override {
    return inner_->outbox_retry(id, a, n, e);
  }
  core::VoidResult outbox_failed(std::int64_t id, int a, std::string_view e,
                                 core::TimePoint t) override {
    return inner_->outbox_failed(id, a, e, t);
  }
  core::VoidResult outbox_remove(std::span<const std::int64_t> ids) override {
    return inner_->outbox_remove(ids);
  }
  R<std::vector<core::OutboxFailure>> outbox_failures(std::size_t l) override {
    return inner_->outbox_failures(l);
  }

 private:
  std::unique_ptr<core::EventStore> inner_;
};

}  // namespace haveri::testing
