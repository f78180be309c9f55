#include "db/db.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "block/format.h"
#include "objstore/local_store.h"
#include "util/allocator.h"
#include "util/durable_file.h"
#include "util/parallel.h"

namespace tb::db {
namespace {

// A random 64-bit hex ID kept in the data dir: it names this process's blocks and WAL across
// restarts, so it is written durably before any block or WAL record can name it.
Result<std::string> LoadOrCreateInstanceId(const std::string& data_dir) {
  const auto path = std::filesystem::path(data_dir) / "INSTANCE";
  std::ifstream in(path);
  std::string id;
  if (in >> id && id.size() == 16) return id;
  id = RandomInstanceId();
  TB_RETURN_IF_ERROR(WriteFileDurably(path.string(), id + "\n"));
  return id;
}

// A flushed block's objects, in the order they are stored (the meta last).
std::vector<std::string> BlockObjectKeys(const std::string& prefix) {
  return {prefix + block::kDataObject, prefix + block::kIndexObject, prefix + block::kMetaObject};
}

}  // namespace

Db::Db(const DbOptions& options, std::shared_ptr<objstore::ObjectStore> store)
    : options_(options),
      store_(std::move(store)),
      budget_(options.shared_budget ? options.shared_budget
                                    : std::make_shared<head::MemoryBudget>(options.head_memory_budget_bytes)),
      spool_budget_(options.shared_spool_budget ? options.shared_spool_budget
                                                : std::make_shared<head::MemoryBudget>(options.spool_max_bytes, nullptr,
                                                                                       "flush.spool_max_size")),
      block_lists_(store_.get(), options.tenant),
      cache_(options.cache_bytes) {}

Db::~Db() {
  Status s = Close();
  if (!s.ok()) spdlog::warn("db close: {}", s.ToString());
}

std::shared_ptr<head::Head> Db::NewHead() const { return std::make_shared<head::Head>(head::Options{0, budget_}); }

std::shared_ptr<block::BlockReader> Db::NewReader(const std::string& prefix, const block::BlockMeta& meta) {
  block::BlockReaderOptions reader = options_.reader;
  reader.metrics = options_.block_read_metrics;
  return std::make_shared<block::BlockReader>(store_.get(), prefix, meta, &cache_, reader);
}

// The spooled copy has the bucket copy's bytes, so the two share cache entries.
std::shared_ptr<block::BlockReader> Db::NewSpoolReader(const std::string& prefix, const block::BlockMeta& meta) {
  block::BlockReaderOptions reader = options_.reader;
  reader.metrics = options_.block_read_metrics;
  return std::make_shared<block::BlockReader>(spool_.get(), prefix, meta, &cache_, reader);
}

// Time-ordered and unique across processes: <unix micros, 16 hex>-<instance>-<counter>.
std::string Db::NewBlockId() { return MakeBlockId(instance_id_, ++block_counter_); }

Result<std::unique_ptr<Db>> Db::Open(const DbOptions& options, std::shared_ptr<objstore::ObjectStore> store) {
  std::unique_ptr<Db> db(new Db(options, std::move(store)));
  TB_RETURN_IF_ERROR(db->Recover());
  // Queries then read blocks only: what the WAL replayed goes into one.
  if (options.flush_every_write) TB_RETURN_IF_ERROR(db->Flush());
  if (options.background_flush || options.blocklist_refresh_interval.count() > 0)
    db->background_ = std::thread([d = db.get()] { d->BackgroundLoop(); });
  if (options.background_compaction) db->compactor_ = std::thread([d = db.get()] { d->CompactLoop(); });
  return db;
}

Status Db::Recover() {
  TB_RETURN_IF_ERROR(CreateDirectoriesDurably(options_.data_dir).WithContext("data dir"));
  TB_ASSIGN_OR_RETURN(instance_id_, LoadOrCreateInstanceId(options_.data_dir));
  {
    const std::string dir =
        options_.spool_dir.empty() ? (std::filesystem::path(options_.data_dir) / "spool").string() : options_.spool_dir;
    objstore::LocalStoreOptions spool_options;
    spool_options.sync = options_.wal_sync;  // a spooled block stands in for WAL segments
    TB_ASSIGN_OR_RETURN(auto spool, objstore::LocalStore::Open(dir, spool_options));
    // Temp files of Puts that died with an earlier run; the age spares other tenants' live ones.
    if (auto removed = spool->RemoveStaleTempFiles(std::chrono::minutes(10)); !removed.ok())
      spdlog::warn("spool {}: removing stale temp files: {}", dir, removed.status().ToString());
    spool_ = std::move(spool);
  }

  // The published blocks, plus any flushed block whose meta landed but whose publication did not.
  TB_ASSIGN_OR_RETURN(BlockList list, block_lists_.LoadLatest());
  std::set<std::string> with_meta, without_meta;
  TB_RETURN_IF_ERROR(block_lists_.ScanBlocks(&with_meta, &without_meta));
  std::vector<block::BlockMeta> unlisted;
  for (const auto& id : with_meta) {
    // A retired block (compacted or expired) waits for the sweeper: publishing it again would show
    // its spans twice, or bring expired ones back.
    if (list.Find(id) != nullptr || list.IsRetired(id)) continue;
    TB_ASSIGN_OR_RETURN(block::BlockMeta meta, block::ReadBlockMeta(*store_, BlockPrefix(options_.tenant, id)));
    if (meta.wal_last == 0) {
      // A compaction's output that was never published: its inputs are still live (or were taken
      // by another compactor), so it holds nothing that is not elsewhere. Its writer deletes it on
      // its next start; a sweep deletes anyone's once the grace period has passed.
      if (meta.writer_id != instance_id_) continue;
      spdlog::info("removing the output of an interrupted compaction: {}", id);
      TB_RETURN_IF_ERROR(DeleteBlockObjects(*store_, options_.tenant, id));
      continue;
    }
    spdlog::info("block {} was written but not published; publishing it", id);
    unlisted.push_back(std::move(meta));
  }
  if (!unlisted.empty()) {
    TB_ASSIGN_OR_RETURN(list, block_lists_.Update(unlisted, {}));
  }
  // Objects of this instance's flushes that died before their meta: nobody can see them; drop them.
  for (const auto& id : without_meta) {
    if (id.find("-" + instance_id_ + "-") == std::string::npos) continue;
    const std::string prefix = BlockPrefix(options_.tenant, id);
    spdlog::info("removing debris of an interrupted flush: {}", prefix);
    TB_RETURN_IF_ERROR(store_->Delete({prefix + block::kDataObject, prefix + block::kIndexObject}));
  }

  // The list keeps this instance's watermark even once its blocks were compacted into others.
  if (auto mark = list.wal_watermarks.find(instance_id_); mark != list.wal_watermarks.end())
    covered_through_ = mark->second;
  uint64_t spooled_through = 0;
  {
    std::lock_guard flush_lock(flush_mu_);
    TB_ASSIGN_OR_RETURN(spooled_through, RecoverSpool());
    Adopt(list, nullptr);
  }
  // WAL records up to here are in a published or a spooled block.
  const uint64_t durable_through = std::max(covered_through_.load(), spooled_through);

  auto head = NewHead();
  wal::Options wal_options;
  wal_options.dir = (std::filesystem::path(options_.data_dir) / "wal").string();
  wal_options.segment_target_bytes = options_.wal_segment_bytes;
  wal_options.sync = options_.wal_sync;
  wal_options.metrics = options_.wal_metrics;
  wal::ReplayStats replay;
  uint64_t expired_spans = 0;
  TB_ASSIGN_OR_RETURN(wal_, ingest::Ingester::RecoverWal(wal_options, durable_through, ExpiredBefore(), &expired_spans,
                                                         head.get(), &replay));
  TB_RETURN_IF_ERROR(wal_->RemoveSegmentsThrough(durable_through));
  spdlog::info(
      "recovered {} blocks from {} and {} spans from the WAL ({} records, {} skipped as already in blocks, {} expired "
      "spans dropped)",
      blocks_.size(), store_->Describe(), head->Stats().spans, replay.records,
      durable_through >= replay.last_sequence ? replay.records : 0, expired_spans);
  if (!pending_.empty())
    spdlog::info("{} spooled blocks wait for the object store (WAL records through {})", pending_.size(),
                 spooled_through);
  ingest::Ingester::AfterWrite after_write;
  if (options_.flush_every_write) after_write = [this] { return Flush(); };
  ingester_ =
      std::make_unique<ingest::Ingester>(options_.limits, head, wal_.get(), options_.admission, std::move(after_write));
  query::QueryEngineOptions engine_options;
  engine_options.limits = options_.query_limits;
  if (options_.retention.count() > 0) engine_options.expired_before = [this] { return ExpiredBefore(); };
  engine_ = std::make_unique<query::QueryEngine>([this] { return Sources(); }, std::move(engine_options));
  active_since_ = std::chrono::steady_clock::now();
  return Status::Ok();
}

query::SourceList Db::Sources() const {
  std::shared_lock lock(sources_mu_);
  query::SourceList sources;
  sources.reserve(1 + frozen_.size() + spooled_.size() + blocks_.size());
  if (!options_.flush_every_write) {  // else the heads hold nothing acknowledged yet
    sources.push_back(ingester_->active_head());
    sources.insert(sources.end(), frozen_.begin(), frozen_.end());
    sources.insert(sources.end(), spooled_.begin(), spooled_.end());
  }
  sources.insert(sources.end(), blocks_.begin(), blocks_.end());
  return sources;
}

Status Db::Flush() {
  std::lock_guard flush_lock(flush_mu_);
  {
    // Queries see the old active head, or the new one plus the frozen one; never neither.
    std::unique_lock lock(sources_mu_);
    ingest::CutHead cut = ingester_->Cut(NewHead());
    frozen_.push_back(cut.head);
    pending_.push_back(PendingFlush{std::move(cut.head), cut.wal_last_sequence, {}, {}, {}});
  }
  active_since_ = std::chrono::steady_clock::now();
  return DrainPending();
}

Status Db::DrainPending() {
  // Oldest first, so that covered_through_ only moves over WAL records that are in blocks. A
  // failed head stays pending (and queryable), and is retried before anything newer.
  const metrics::FlushMetrics& m = options_.flush_metrics;
  if (!pending_.empty() && pending_.front().spooled) {
    if (Status s = SpoolPending(); !s.ok()) spdlog::warn("spooling a flush: {}", s.ToString());
  }
  while (!pending_.empty()) {
    const auto since = std::chrono::steady_clock::now();
    PendingFlush& p = pending_.front();
    const bool empty = p.head != nullptr && p.head->Stats().spans == 0;
    AssignIdentity(0);
    if (Status written = WriteBlock(&p); !written.ok()) {
      if (stopping_) return written;  // an abandoned block at shutdown is no failure: the WAL keeps its spans
      m.failures.Add();
      m.duration_seconds.ObserveSince(since);
      // Not published, but out of memory: the flushes wait in the spool for the store.
      if (Status s = SpoolPending(); !s.ok()) return written.WithContext(s.ToString());
      return written;
    }
    if (!empty) {
      const block::BlockMeta& meta = *p.written;
      m.duration_seconds.ObserveSince(since);
      m.blocks.Add();
      m.bytes.Add(static_cast<double>(meta.data_size + meta.index_size));
      m.spans.Add(static_cast<double>(meta.span_count));
    }
    pending_.pop_front();
  }
  // The flushed heads and the block writer went back to the allocator, which keeps freed heap mapped;
  // returning it to the kernel makes RSS follow the heads' budget instead of its peak.
  ReleaseFreeMemory();
  return Status::Ok();
}

void Db::AssignIdentity(size_t index) {
  PendingFlush& p = pending_[index];
  if (!p.identity.block_id.empty()) return;
  p.identity.block_id = NewBlockId();
  p.identity.writer_id = instance_id_;
  p.identity.wal_first = (index == 0 ? covered_through_.load() : pending_[index - 1].wal_last) + 1;
  p.identity.wal_last = p.wal_last;
}

uint64_t Db::DurableThrough() const {
  uint64_t through = covered_through_;
  for (const auto& p : pending_) {
    // A head with spans but no copy outside the WAL ends the run. An empty one holds no span, but
    // its records stay unless it covers none (its WAL range is empty).
    const bool stored = p.written || p.spooled;
    const bool empty_range = p.head != nullptr && p.head->Stats().spans == 0 && p.wal_last == through;
    if (!stored && !empty_range) break;
    through = p.wal_last;
  }
  return through;
}

Status Db::SpoolPending() {
  // There a write waits for its block to be published: the heads hold the few failed ones.
  if (options_.flush_every_write) return Status::Ok();
  Status spooled = Status::Ok();
  for (size_t i = 0; i < pending_.size() && spooled.ok(); ++i) {
    AssignIdentity(i);
    spooled = SpoolBlock(&pending_[i]);
  }
  if (Status removed = wal_->RemoveSegmentsThrough(DurableThrough()); !removed.ok()) return removed;
  return spooled;
}

Status Db::SpoolBlock(PendingFlush* p) {
  if (p->spooled || p->written || p->head->Stats().spans == 0) return Status::Ok();
  if (spool_budget_->used() >= spool_budget_->limit())
    return Status::ResourceExhausted("flush.spool_max_size (" + std::to_string(spool_budget_->limit()) +
                                     " bytes) is full: " + std::to_string(spool_budget_->used()) +
                                     " bytes of spooled blocks; the head keeps the block in memory");
  block::BlockWriter writer(options_.writer);
  const bool added = p->head->ForEachSpan([&](const auto& resource, const auto& scope, const auto& span) {
    writer.AddUncopied(resource, scope, span);
    return !stopping_.load(std::memory_order_relaxed);
  });
  if (!added) return Status::Unavailable("shutting down: the block was not spooled; the WAL keeps its spans");
  const std::string prefix = BlockPrefix(options_.tenant, p->identity.block_id);
  auto spooled = writer.Finish(*spool_, prefix, p->identity, &stopping_);
  if (!spooled.ok()) return spooled.status().WithContext("spooling block " + p->identity.block_id);
  const block::BlockMeta& meta = *spooled;
  spool_budget_->ForceAcquire(meta.data_size + meta.index_size);
  p->spooled = NewSpoolReader(prefix, meta);
  {
    // One step for queries: the spooled copy joins as the frozen head leaves.
    std::unique_lock lock(sources_mu_);
    spooled_.push_back(p->spooled);
    std::erase(frozen_, p->head);
  }
  p->head.reset();
  ReleaseFreeMemory();
  spdlog::warn("object store unavailable: block {} spooled to local disk ({} spans, {} + {} bytes)", meta.block_id,
               meta.span_count, meta.data_size, meta.index_size);
  return Status::Ok();
}

Status Db::UploadSpooled(const PendingFlush& p) {
  const std::string prefix = BlockPrefix(options_.tenant, p.identity.block_id);
  // The block ID is this process's own, so overwriting what an earlier attempt left is safe; the
  // meta goes last, as BlockWriter::Finish orders it, so a block is never seen half uploaded.
  for (const std::string& key : BlockObjectKeys(prefix)) {
    TB_ASSIGN_OR_RETURN(std::string bytes, spool_->Get(key));
    TB_RETURN_IF_ERROR(store_->Put(key, bytes));
  }
  return Status::Ok();
}

Status Db::WriteBlock(PendingFlush* p) {
  if (p->head != nullptr && p->head->Stats().spans == 0) {
    std::unique_lock lock(sources_mu_);
    std::erase(frozen_, p->head);
    covered_through_ = std::max(covered_through_.load(), p->wal_last);
    return Status::Ok();
  }
  const std::string prefix = BlockPrefix(options_.tenant, p->identity.block_id);
  // A retry after the meta was written publishes that block again rather than writing a second
  // copy of the same spans under another ID.
  if (!p->written && p->spooled) {
    TB_RETURN_IF_ERROR(UploadSpooled(*p));
    p->written = p->spooled->meta();
  }
  if (!p->written) {
    // The frozen head outlives the writer (`p` holds it) and takes no more inserts, so the writer
    // borrows its spans instead of copying them.
    block::BlockWriter writer(options_.writer);
    const bool added = p->head->ForEachSpan([&](const auto& resource, const auto& scope, const auto& span) {
      writer.AddUncopied(resource, scope, span);
      return !stopping_.load(std::memory_order_relaxed);
    });
    if (!added) return Status::Unavailable("shutting down: the block was not finished; the WAL keeps its spans");
    TB_ASSIGN_OR_RETURN(p->written, writer.Finish(*store_, prefix, p->identity, &stopping_));
  }
  const block::BlockMeta& meta = *p->written;
  TB_ASSIGN_OR_RETURN(BlockList list, block_lists_.Update({meta}, {}));
  Adopt(list, p);
  covered_through_ = std::max(covered_through_.load(), p->wal_last);
  if (p->spooled) {
    // Published: the bucket's copy serves from now on (Adopt swapped the readers).
    if (Status s = DeleteBlockObjects(*spool_, options_.tenant, meta.block_id); !s.ok())
      spdlog::warn("block {}: removing the spooled copy: {}", meta.block_id, s.ToString());
    spool_budget_->Release(meta.data_size + meta.index_size);
    spdlog::info("spooled block {} uploaded", meta.block_id);
  }
  TB_RETURN_IF_ERROR(wal_->RemoveSegmentsThrough(DurableThrough()));
  spdlog::info("flushed block {}: {} spans, {} traces, {} + {} bytes", meta.block_id, meta.span_count, meta.trace_count,
               meta.data_size, meta.index_size);
  return Status::Ok();
}

Result<uint64_t> Db::RecoverSpool() {
  std::set<std::string> with_meta, without_meta;
  TB_RETURN_IF_ERROR(BlockListStore(spool_.get(), options_.tenant).ScanBlocks(&with_meta, &without_meta));
  // A spool write that died before its meta: the WAL still holds its spans.
  for (const auto& id : without_meta) TB_RETURN_IF_ERROR(DeleteBlockObjects(*spool_, options_.tenant, id));
  std::vector<block::BlockMeta> spooled;
  for (const auto& id : with_meta) {
    TB_ASSIGN_OR_RETURN(block::BlockMeta meta, block::ReadBlockMeta(*spool_, BlockPrefix(options_.tenant, id)));
    spooled.push_back(std::move(meta));
  }
  std::sort(spooled.begin(), spooled.end(),
            [](const block::BlockMeta& a, const block::BlockMeta& b) { return a.wal_first < b.wal_first; });
  uint64_t through = covered_through_;
  for (const auto& meta : spooled) {
    // Already published (uploaded, then the process died before deleting the copy): the list's
    // watermark passed it. Past a gap: the WAL still holds it, as it was never durable only here.
    const bool published = meta.wal_last <= covered_through_;
    if (published || meta.writer_id != instance_id_ || meta.wal_first != through + 1) {
      if (!published)
        spdlog::warn("spooled block {} does not continue WAL record {}; the WAL replays its spans", meta.block_id,
                     through);
      TB_RETURN_IF_ERROR(DeleteBlockObjects(*spool_, options_.tenant, meta.block_id));
      continue;
    }
    PendingFlush p;
    p.wal_last = meta.wal_last;
    p.identity.block_id = meta.block_id;
    p.identity.writer_id = meta.writer_id;
    p.identity.wal_first = meta.wal_first;
    p.identity.wal_last = meta.wal_last;
    p.spooled = NewSpoolReader(BlockPrefix(options_.tenant, meta.block_id), meta);
    spool_budget_->ForceAcquire(meta.data_size + meta.index_size);
    {
      std::unique_lock lock(sources_mu_);
      spooled_.push_back(p.spooled);
    }
    pending_.push_back(std::move(p));
    through = meta.wal_last;
  }
  return through;
}

bool Db::FlushDue() const {
  const head::HeadStats stats = ingester_->active_head()->Stats();
  if (stats.spans == 0) return false;
  const uint64_t threshold = std::min(options_.flush_bytes, options_.head_memory_budget_bytes / 2);
  return stats.memory_bytes >= threshold || std::chrono::steady_clock::now() - active_since_ >= options_.flush_age;
}

void Db::Adopt(const BlockList& list, const PendingFlush* completing) {
  std::set<std::string> held_by_heads;
  for (const auto& p : pending_)
    if (&p != completing) held_by_heads.insert(p.identity.block_id);
  std::map<std::string, std::shared_ptr<block::BlockReader>> current;
  {
    std::shared_lock lock(sources_mu_);
    for (const auto& reader : blocks_) current.emplace(reader->meta().block_id, reader);
  }
  std::vector<std::shared_ptr<block::BlockReader>> next;
  std::vector<block::BlockReader*> joining;
  size_t joined = 0;
  for (const auto& listed : list.blocks) {
    const block::BlockMeta& meta = listed.meta;
    if (held_by_heads.contains(meta.block_id)) continue;
    if (auto it = current.find(meta.block_id); it != current.end()) {
      next.push_back(it->second);
      continue;
    }
    if (meta.format_version != block::kFormatVersion) {
      // Left in the bucket and the block list (a later rewrite can read it); not queried.
      if (unreadable_.insert(meta.block_id).second)
        spdlog::warn("block {} has block format version {}, which this build cannot read; queries skip it",
                     meta.block_id, meta.format_version);
      continue;
    }
    next.push_back(NewReader(BlockPrefix(options_.tenant, meta.block_id), meta));
    joining.push_back(next.back().get());
    ++joined;
  }
  // Trace-by-ID then rules a joining block out from memory (docs/format/reads.md). A block whose
  // bloom cannot be read is still adopted: its lookups load the trace section as before.
  (void)tb::ParallelFor(joining.size(), 8, [&](size_t i) {
    if (Status s = joining[i]->PinTraceBloom(); !s.ok())
      spdlog::warn("block {}: trace-ID bloom not pinned: {}", joining[i]->meta().block_id, s.ToString());
    return Status::Ok();
  });
  const size_t left = current.size() + joined - next.size();
  {
    // One step for queries: a completed flush's block joins as its frozen head leaves.
    std::unique_lock lock(sources_mu_);
    blocks_ = std::move(next);
    levels_.clear();
    for (const auto& b : list.blocks) levels_[b.meta.block_id] = b.level;
    if (completing != nullptr) {
      std::erase(frozen_, completing->head);
      std::erase(spooled_, completing->spooled);
    }
  }
  adopted_ = list;
  if (completing == nullptr && (joined > 0 || left > 0))
    spdlog::info("block list version {}: {} blocks joined, {} left", list.version, joined, left);
}

Status Db::Refresh() {
  std::lock_guard flush_lock(flush_mu_);
  TB_ASSIGN_OR_RETURN(std::optional<BlockList> list, block_lists_.LoadIfChanged(adopted_.version));
  if (list) Adopt(*list, nullptr);
  return Status::Ok();
}

uint64_t Db::ExpiredBefore(std::chrono::system_clock::time_point now) const {
  if (options_.retention.count() <= 0) return 0;
  const auto since_epoch = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch());
  const auto retention = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.retention);
  return since_epoch > retention ? static_cast<uint64_t>((since_epoch - retention).count()) : 0;
}

uint64_t Db::ExpiredBefore() const { return ExpiredBefore(options_.clock()); }

Status Db::ApplyRetention(std::chrono::system_clock::time_point now) {
  const uint64_t cutoff = ExpiredBefore(now);
  if (cutoff == 0) return Status::Ok();
  std::lock_guard flush_lock(flush_mu_);
  const std::set<std::string> expired = ExpiredBlocks(adopted_, cutoff);
  if (expired.empty()) return Status::Ok();
  TB_ASSIGN_OR_RETURN(BlockList list, block_lists_.Update({}, expired));
  Adopt(list, nullptr);
  spdlog::info("retention: {} blocks whose spans all started before {} ns were retired", expired.size(), cutoff);
  return Status::Ok();
}

void Db::BackgroundLoop() {
  using Clock = std::chrono::steady_clock;
  const auto every = [](std::chrono::milliseconds interval) {
    return interval.count() > 0 ? Clock::now() + interval : Clock::time_point::max();
  };
  Clock::time_point next_refresh = every(options_.blocklist_refresh_interval);
  Clock::time_point next_upload = Clock::now();
  const auto report = [this](std::string_view what, const Status& s) {
    if (s.ok()) return;
    if (stopping_) {
      spdlog::info("{} abandoned at shutdown", what);
    } else {
      spdlog::error("{} failed (will retry): {}", what, s.ToString());
    }
  };
  std::unique_lock lock(loop_mu_);
  while (!stopping_) {
    loop_cv_.wait_for(lock, std::chrono::milliseconds(200));
    if (stopping_) break;
    lock.unlock();
    if (options_.background_flush) {
      bool due;
      {
        std::lock_guard flush_lock(flush_mu_);
        due = FlushDue();
      }
      // The WAL keeps the spans of a flush abandoned at shutdown; they are replayed on start.
      if (due) {
        report("flush", Flush());
      } else if (Clock::now() >= next_upload) {
        // Spooled (or failed) blocks are retried while no new flush is due.
        std::lock_guard flush_lock(flush_mu_);
        if (!pending_.empty()) report("upload of pending blocks", DrainPending());
        next_upload = Clock::now() + std::chrono::seconds(1);
      }
    }
    if (Clock::now() >= next_refresh) {
      report("block list refresh", Refresh());
      report("retention", ApplyRetention(options_.clock()));
      next_refresh = every(options_.blocklist_refresh_interval);
    }
    lock.lock();
  }
}

Result<CompactionSummary> Db::Compact() {
  std::lock_guard compact_lock(compact_mu_);
  CompactionOptions options = options_.compaction;
  options.retention = options_.retention;
  Compactor compactor(
      store_.get(), options_.tenant, instance_id_, [this] { return NewBlockId(); }, options);
  // Each publication is adopted at once: the inputs' readers leave the query sources as the
  // outputs' join (queries that already took their sources keep the inputs, whose objects stay for
  // the grace period).
  const auto since = std::chrono::steady_clock::now();
  Result<CompactionSummary> done = compactor.RunUntilDone(
      [this](const std::vector<ListedBlock>&, const std::vector<std::string>&) {
        if (Status s = Refresh(); !s.ok()) spdlog::warn("adopting a compaction's block list: {}", s.ToString());
      },
      &stopping_);
  const metrics::CompactionMetrics& m = options_.compaction_metrics;
  m.runs.Add();
  m.duration_seconds.ObserveSince(since);
  if (!done.ok()) {
    m.failures.Add();
    return done;
  }
  if (done->lease_held_elsewhere) m.lease_held_elsewhere.Add();
  m.input_blocks.Add(static_cast<double>(done->input_blocks));
  m.output_blocks.Add(static_cast<double>(done->output_blocks));
  m.input_bytes.Add(static_cast<double>(done->input_bytes));
  m.output_bytes.Add(static_cast<double>(done->output_bytes));
  m.output_spans.Add(static_cast<double>(done->output_spans));
  m.duplicate_spans_dropped.Add(static_cast<double>(done->duplicate_spans_dropped));
  m.expired_blocks.Add(static_cast<double>(done->blocks_expired));
  m.swept_blocks.Add(static_cast<double>(done->blocks_swept));
  return done;
}

void Db::CompactLoop() {
  std::unique_lock lock(loop_mu_);
  while (!stopping_) {
    loop_cv_.wait_for(lock, options_.compaction_interval);
    if (stopping_) break;
    lock.unlock();
    auto done = Compact();
    if (!done.ok() && !stopping_) spdlog::error("compaction failed (will retry): {}", done.status().ToString());
    lock.lock();
  }
}

Status Db::Purge() {
  std::lock_guard compact_lock(compact_mu_);
  std::lock_guard flush_lock(flush_mu_);
  // Out of the queries' sources before the ingester's lock is taken, never under it: Flush takes
  // sources_mu_ first and the ingester's lock inside it, and one order keeps the two from ever
  // waiting on each other (ThreadSanitizer's lock-order check, tb_db_test under TB_TSAN). Nothing
  // can re-adopt a block meanwhile: that needs flush_mu_, held here.
  {
    std::unique_lock lock(sources_mu_);
    frozen_.clear();
    spooled_.clear();
    blocks_.clear();
  }
  return ingester_->Purge([&]() -> Status {
    while (!pending_.empty()) {
      if (const auto& spooled = pending_.front().spooled) {
        TB_RETURN_IF_ERROR(DeleteBlockObjects(*spool_, options_.tenant, spooled->meta().block_id));
        spool_budget_->Release(spooled->meta().data_size + spooled->meta().index_size);
      }
      pending_.pop_front();
    }
    adopted_ = BlockList{};
    unreadable_.clear();
    cache_.Clear();
    return PurgeBucket();
  });
}

// Retires every live block first: once that version is written, a crash anywhere after it cannot
// bring a span back (recovery never republishes a retired block, and the sweep finishes the job).
// Then what is left goes in an order that keeps that true: metas before the rest of their blocks
// (a meta-less block never comes back), block list versions last, the newest of them very last.
Status Db::PurgeBucket() {
  TB_ASSIGN_OR_RETURN(BlockList list, block_lists_.LoadLatest());
  BlockListChange retire_all;
  for (const auto& b : list.blocks) retire_all.retire.insert(b.meta.block_id);
  if (!retire_all.retire.empty()) TB_RETURN_IF_ERROR(block_lists_.Update(retire_all).status());
  TB_RETURN_IF_ERROR(block_lists_.SweepRetired(NowUnixNano(), 0).status());

  const std::string tenant = TenantPrefix(options_.tenant);
  TB_ASSIGN_OR_RETURN(auto objects, objstore::ListAll(*store_, tenant));
  std::vector<std::string> metas, block_parts, others, lists;
  for (auto& o : objects) {
    const std::string_view rest = std::string_view(o.key).substr(tenant.size());
    if (rest.starts_with("blocks/")) {
      (rest.ends_with(std::string("/") + block::kMetaObject) ? metas : block_parts).push_back(std::move(o.key));
    } else {
      (rest.starts_with("blocklist/") ? lists : others).push_back(std::move(o.key));
    }
  }
  std::string newest_list;
  if (!lists.empty()) {
    newest_list = std::move(lists.back());
    lists.pop_back();
  }
  for (auto* keys : {&metas, &block_parts, &others, &lists})
    if (!keys->empty()) TB_RETURN_IF_ERROR(store_->Delete(*keys));
  return newest_list.empty() ? Status::Ok() : store_->Delete({newest_list});
}

Status Db::Close() {
  {
    std::lock_guard lock(loop_mu_);
    stopping_ = true;
  }
  loop_cv_.notify_all();
  // A running compaction stops between traces (it watches stopping_); its unpublished output is
  // left for the sweep.
  if (compactor_.joinable()) compactor_.join();
  if (background_.joinable()) background_.join();
  return wal_ ? wal_->Close() : Status::Ok();
}

Status Db::WalWritable() const { return wal_->Writable(); }

Status Db::ProbeStore() const { return store_->List("", "", 1).status(); }

DbStats Db::Stats() const {
  DbStats s;
  s.active_head = ingester_->active_head()->Stats();
  std::shared_lock lock(sources_mu_);
  s.frozen_heads = frozen_.size();
  for (const auto& head : frozen_) {
    const head::HeadStats h = head->Stats();
    s.frozen_spans += h.spans;
    s.frozen_traces += h.traces;
    s.frozen_memory_bytes += h.memory_bytes;
  }
  s.blocks = blocks_.size();
  s.spooled_blocks = spooled_.size();
  for (const auto& reader : spooled_) s.spooled_bytes += reader->meta().data_size + reader->meta().index_size;
  s.wal_covered_through = covered_through_;
  lock.unlock();
  if (wal_) s.wal_usage = wal_->Usage();
  s.cache = cache_.stats();
  return s;
}

std::vector<ListedBlock> Db::PublishedBlocks() const {
  std::shared_lock lock(sources_mu_);
  std::vector<ListedBlock> blocks;
  for (const auto& reader : blocks_) {
    const auto level = levels_.find(reader->meta().block_id);
    blocks.push_back(ListedBlock{reader->meta(), level == levels_.end() ? 0 : level->second});
  }
  return blocks;
}

}  // namespace tb::db
