// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dm-quiesce: a pass-through device-mapper target whose freeze has a deadline
 * that the kernel enforces, so a killed or stuck userspace helper cannot leave
 * a filesystem frozen.
 *
 * Table line:
 *   <start> <len> quiesce <device> <offset>
 * I/O is remapped to <device> starting at sector <offset>, as dm-linear does;
 * flushes, FUA, discards, write-zeroes and the queue limits of <device> pass
 * through (limits are stacked by dm core through iterate_devices).
 *
 * Messages (dmsetup message <name> 0 <message>):
 *   freeze <timeout_ms>
 *	Freezes the filesystem mounted on this mapped device (the block-device
 *	freeze of the mapped device itself), then holds every write that still
 *	reaches the target (raw users of the device, e.g. with no filesystem
 *	mounted) until the thaw, and waits until the writes that passed before
 *	have completed on <device>. So when the message returns, what <device>
 *	holds stays put until the thaw: a snapshot of it is consistent.
 *	The deadline is armed before freezing starts: <timeout_ms>
 *	(1..3600000) after the message, the kernel thaws by itself and counts
 *	an expiry.
 *	Errors: EBUSY when already frozen or while the device is suspended;
 *	ETIMEDOUT when freezing itself outlasted the deadline (it has then been
 *	undone and counted as an expiry); what the block-device freeze returned.
 *   thaw
 *	Submits the held writes and thaws. EINVAL when not frozen (for example
 *	because the deadline came first), as FITHAW does.
 *
 * Status INFO: five positional fields separated by single spaces:
 *   <state> <epoch> <last_freeze_us> <expiries> <held>
 *	state		thawed | freezing | frozen
 *	epoch		freezes that succeeded since this table was loaded
 *	last_freeze_us	length in microseconds of the latest freeze, from the
 *			freeze message to the end of the thaw; while freezing
 *			or frozen, the time elapsed so far; 0 before any freeze
 *	expiries	freezes ended by the deadline rather than by "thaw"
 *	held		writes held at the target right now
 *   Fields may be appended in later versions; readers must ignore extras.
 * Status TABLE: <device> <offset>
 *
 * Suspending, reloading or removing the device while frozen thaws first (in
 * presuspend) and submits the held writes, because device-mapper waits for
 * in-flight I/O before it suspends. ioctls are not passed to <device>
 * (no prepare_ioctl): an SG_IO write would otherwise bypass the hold.
 * The freeze is of the whole mapped device, so a table holds this target
 * alone (DM_TARGET_SINGLETON).
 */

#include <linux/module.h>
#include <linux/init.h>
#include <linux/blkdev.h>
#include <linux/bio.h>
#include <linux/ktime.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/device-mapper.h>

#include "dm-quiesce-compat.h"

#define DM_MSG_PREFIX "quiesce"

#define QUIESCE_MAX_TIMEOUT_MS 3600000U

enum quiesce_state {
	QUIESCE_THAWED,
	QUIESCE_FREEZING,
	QUIESCE_FROZEN,
};

static const char * const quiesce_state_names[] = {
	[QUIESCE_THAWED] = "thawed",
	[QUIESCE_FREEZING] = "freezing",
	[QUIESCE_FROZEN] = "frozen",
};

struct quiesce_c {
	struct dm_dev *dev;
	sector_t start;
	/* The mapped device's own block device: what gets frozen. */
	struct block_device *self;

	/*
	 * Serialises freeze, thaw, the deadline and suspend. Held across the
	 * block-device freeze, which syncs the filesystem, so map() and
	 * status() must never take it.
	 */
	struct mutex lock;
	struct workqueue_struct *wq;
	struct delayed_work deadline_work;
	ktime_t deadline;		/* under lock */
	bool suspending;		/* under lock: presuspend to resume */

	/*
	 * Writes sent to <device> and not yet completed. map() counts before
	 * it looks at @holding and the freeze sets @holding before it waits
	 * for zero, so no write can slip past both.
	 */
	atomic_t inflight;
	wait_queue_head_t drained;

	/* Under hold_lock: read by map() and status(). */
	spinlock_t hold_lock;
	bool holding;
	struct bio_list held;
	unsigned int nr_held;
	enum quiesce_state state;
	ktime_t freeze_start;
	u64 epoch;
	u64 last_freeze_us;
	u64 expiries;
};

static int quiesce_bdev_freeze(struct block_device *bdev)
{
#ifdef QUIESCE_HAVE_BDEV_FREEZE
	return bdev_freeze(bdev);
#else
	return freeze_bdev(bdev);
#endif
}

static int quiesce_bdev_thaw(struct block_device *bdev)
{
#ifdef QUIESCE_HAVE_BDEV_FREEZE
	return bdev_thaw(bdev);
#else
	return thaw_bdev(bdev);
#endif
}

static void quiesce_submit(struct bio *bio)
{
#ifdef QUIESCE_HAVE_SUBMIT_BIO_REMAP
	dm_submit_bio_remap(bio, NULL);
#else
	submit_bio_noacct(bio);
#endif
}

static void quiesce_write_done(struct quiesce_c *qc)
{
	/* wq_has_sleeper() has the barrier that pairs with the waiter. */
	if (atomic_dec_and_test(&qc->inflight) && wq_has_sleeper(&qc->drained))
		wake_up(&qc->drained);
}

static void quiesce_set_state(struct quiesce_c *qc, enum quiesce_state state)
{
	spin_lock_irq(&qc->hold_lock);
	qc->state = state;
	spin_unlock_irq(&qc->hold_lock);
}

/* Releases held writes and thaws; @expired says whether the deadline did it. */
static void quiesce_thaw_locked(struct quiesce_c *qc, bool expired)
{
	struct bio_list held;
	struct bio *bio;
	int r;

	lockdep_assert_held(&qc->lock);

	spin_lock_irq(&qc->hold_lock);
	WRITE_ONCE(qc->holding, false);
	bio_list_init(&held);
	bio_list_merge(&held, &qc->held);
	bio_list_init(&qc->held);
	qc->nr_held = 0;
	spin_unlock_irq(&qc->hold_lock);

	while ((bio = bio_list_pop(&held))) {
		atomic_inc(&qc->inflight);
		quiesce_submit(bio);
	}

	/*
	 * Fails only when someone else thawed the filesystem behind our back
	 * (FITHAW); there is nothing left for us to undo then.
	 */
	r = quiesce_bdev_thaw(qc->self);
	if (r)
		DMWARN("%pg: thaw returned %d", qc->self, r);
	if (expired)
		DMWARN("%pg: freeze deadline expired, thawed", qc->self);

	spin_lock_irq(&qc->hold_lock);
	qc->state = QUIESCE_THAWED;
	qc->last_freeze_us = ktime_us_delta(ktime_get(), qc->freeze_start);
	if (expired)
		qc->expiries++;
	spin_unlock_irq(&qc->hold_lock);
}

static void quiesce_deadline(struct work_struct *work)
{
	struct quiesce_c *qc = container_of(to_delayed_work(work),
					    struct quiesce_c, deadline_work);
	ktime_t now;

	mutex_lock(&qc->lock);
	if (qc->state == QUIESCE_FROZEN) {
		now = ktime_get();
		/*
		 * Jiffies and the monotonic clock may disagree by a tick, and a
		 * stale run from an earlier freeze may land here: only the
		 * recorded deadline decides.
		 */
		if (ktime_before(now, qc->deadline))
			mod_delayed_work(qc->wq, &qc->deadline_work,
					 usecs_to_jiffies(ktime_us_delta(qc->deadline, now)) + 1);
		else
			quiesce_thaw_locked(qc, true);
	}
	mutex_unlock(&qc->lock);
}

static int quiesce_freeze(struct dm_target *ti, unsigned int timeout_ms)
{
	struct quiesce_c *qc = ti->private;
	ktime_t now = ktime_get();
	ktime_t left;
	int r = 0;

	mutex_lock(&qc->lock);
	/* A suspended device queues I/O, so the filesystem sync would hang. */
	if (qc->suspending || dm_suspended(ti) || qc->state != QUIESCE_THAWED) {
		r = -EBUSY;
		goto out;
	}

	spin_lock_irq(&qc->hold_lock);
	qc->state = QUIESCE_FREEZING;
	qc->freeze_start = now;
	spin_unlock_irq(&qc->hold_lock);

	/*
	 * Armed before freezing: writers are already blocked while the
	 * filesystem syncs, and that time counts against the deadline too.
	 */
	qc->deadline = ktime_add_ms(now, timeout_ms);
	mod_delayed_work(qc->wq, &qc->deadline_work, msecs_to_jiffies(timeout_ms));

	r = quiesce_bdev_freeze(qc->self);
	if (r) {
		quiesce_set_state(qc, QUIESCE_THAWED);
		/* Not _sync: a running instance waits for our lock, then sees THAWED. */
		cancel_delayed_work(&qc->deadline_work);
		goto out;
	}

	/* Only now: the filesystem's own sync writes had to pass. */
	spin_lock_irq(&qc->hold_lock);
	WRITE_ONCE(qc->holding, true);
	qc->epoch++;
	spin_unlock_irq(&qc->hold_lock);
	smp_mb();	/* order @holding before reading @inflight; pairs with map() */

	/* Writes that got past before the hold must land before we say frozen. */
	left = ktime_sub(qc->deadline, ktime_get());
	if (ktime_to_ns(left) <= 0 ||
	    !wait_event_timeout(qc->drained, !atomic_read(&qc->inflight),
				nsecs_to_jiffies(ktime_to_ns(left)) + 1) ||
	    !ktime_before(ktime_get(), qc->deadline)) {
		quiesce_thaw_locked(qc, true);
		r = -ETIMEDOUT;
		goto out;
	}
	quiesce_set_state(qc, QUIESCE_FROZEN);
out:
	mutex_unlock(&qc->lock);
	return r;
}

static int quiesce_thaw(struct quiesce_c *qc)
{
	int r = 0;

	mutex_lock(&qc->lock);
	if (qc->state == QUIESCE_FROZEN) {
		quiesce_thaw_locked(qc, false);
		cancel_delayed_work(&qc->deadline_work);
	} else {
		r = -EINVAL;
	}
	mutex_unlock(&qc->lock);
	return r;
}

static int quiesce_message(struct dm_target *ti, unsigned int argc, char **argv,
			   char *result, unsigned int maxlen)
{
	static const struct dm_arg timeout_arg = {
		1, QUIESCE_MAX_TIMEOUT_MS, "Invalid freeze timeout (1..3600000 ms)"
	};
	struct dm_arg_set as = { .argc = argc, .argv = argv };
	unsigned int timeout_ms;
	const char *cmd;
	char *error;

	cmd = dm_shift_arg(&as);
	if (!cmd)
		return -EINVAL;

	if (!strcasecmp(cmd, "freeze") && as.argc == 1) {
		if (dm_read_arg(&timeout_arg, &as, &timeout_ms, &error)) {
			DMWARN_LIMIT("%s", error);
			return -EINVAL;
		}
		return quiesce_freeze(ti, timeout_ms);
	}
	if (!strcasecmp(cmd, "thaw") && as.argc == 0)
		return quiesce_thaw(ti->private);

	DMWARN_LIMIT("Unrecognised message: %s (want \"freeze <timeout_ms>\" or \"thaw\")",
		     cmd);
	return -EINVAL;
}

static int quiesce_map(struct dm_target *ti, struct bio *bio)
{
	struct quiesce_c *qc = ti->private;
	unsigned long flags;

	bio_set_dev(bio, qc->dev->bdev);
	if (bio_sectors(bio))
		bio->bi_iter.bi_sector = qc->start +
			dm_target_offset(ti, bio->bi_iter.bi_sector);

	if (!op_is_write(bio_op(bio)))
		return DM_MAPIO_REMAPPED;

	atomic_inc(&qc->inflight);
	smp_mb__after_atomic();	/* count before looking; pairs with the freeze */
	if (likely(!READ_ONCE(qc->holding)))
		return DM_MAPIO_REMAPPED;

	spin_lock_irqsave(&qc->hold_lock, flags);
	if (!qc->holding) {
		spin_unlock_irqrestore(&qc->hold_lock, flags);
		return DM_MAPIO_REMAPPED;
	}
	bio_list_add(&qc->held, bio);
	qc->nr_held++;
	spin_unlock_irqrestore(&qc->hold_lock, flags);
	/* Counted again when released. */
	quiesce_write_done(qc);
	return DM_MAPIO_SUBMITTED;
}

static int quiesce_end_io(struct dm_target *ti, struct bio *bio,
			  blk_status_t *error)
{
	if (op_is_write(bio_op(bio)))
		quiesce_write_done(ti->private);
	return DM_ENDIO_DONE;
}

static void quiesce_presuspend(struct dm_target *ti)
{
	struct quiesce_c *qc = ti->private;

	mutex_lock(&qc->lock);
	qc->suspending = true;
	if (qc->state == QUIESCE_FROZEN)
		quiesce_thaw_locked(qc, false);
	mutex_unlock(&qc->lock);
	cancel_delayed_work_sync(&qc->deadline_work);
}

static void quiesce_resume(struct dm_target *ti)
{
	struct quiesce_c *qc = ti->private;

	mutex_lock(&qc->lock);
	qc->suspending = false;
	mutex_unlock(&qc->lock);
}

static void quiesce_status(struct dm_target *ti, status_type_t type,
			   unsigned int status_flags, char *result, unsigned int maxlen)
{
	struct quiesce_c *qc = ti->private;
	enum quiesce_state state;
	u64 epoch, last_us, expiries;
	unsigned int held;
	unsigned int sz = 0;

	switch (type) {
	case STATUSTYPE_INFO:
		spin_lock_irq(&qc->hold_lock);
		state = qc->state;
		epoch = qc->epoch;
		expiries = qc->expiries;
		held = qc->nr_held;
		if (state == QUIESCE_THAWED)
			last_us = qc->last_freeze_us;
		else
			last_us = ktime_us_delta(ktime_get(), qc->freeze_start);
		spin_unlock_irq(&qc->hold_lock);
		DMEMIT("%s %llu %llu %llu %u", quiesce_state_names[state],
		       (unsigned long long)epoch, (unsigned long long)last_us,
		       (unsigned long long)expiries, held);
		break;

	case STATUSTYPE_TABLE:
		DMEMIT("%s %llu", qc->dev->name, (unsigned long long)qc->start);
		break;

#ifdef QUIESCE_HAVE_STATUSTYPE_IMA
	case STATUSTYPE_IMA:
		DMEMIT_TARGET_NAME_VERSION(ti->type);
		DMEMIT(",device_name=%s,start=%llu;", qc->dev->name,
		       (unsigned long long)qc->start);
		break;
#endif
	default:
		/* Status types newer than this target: report nothing. */
		break;
	}
}

static int quiesce_iterate_devices(struct dm_target *ti,
				   iterate_devices_callout_fn fn, void *data)
{
	struct quiesce_c *qc = ti->private;

	return fn(ti, qc->dev, qc->start, ti->len, data);
}

static void quiesce_dtr(struct dm_target *ti)
{
	struct quiesce_c *qc = ti->private;

	/*
	 * Presuspend has thawed any table that was ever live; this covers a
	 * table destroyed without one, so the freeze count stays balanced.
	 */
	mutex_lock(&qc->lock);
	if (qc->state == QUIESCE_FROZEN)
		quiesce_thaw_locked(qc, false);
	mutex_unlock(&qc->lock);

	if (qc->wq) {
		cancel_delayed_work_sync(&qc->deadline_work);
		destroy_workqueue(qc->wq);
	}
	if (qc->dev)
		dm_put_device(ti, qc->dev);
	mutex_destroy(&qc->lock);
	kfree(qc);
}

/* <device> <offset> */
static int quiesce_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct dm_arg_set as = { .argc = argc, .argv = argv };
	struct quiesce_c *qc;
	unsigned long long start;
	const char *path;
	int r;

	if (argc != 2) {
		ti->error = "Expected two arguments: <device> <offset>";
		return -EINVAL;
	}

	qc = kzalloc(sizeof(*qc), GFP_KERNEL);
	if (!qc) {
		ti->error = "Cannot allocate context";
		return -ENOMEM;
	}
	mutex_init(&qc->lock);
	spin_lock_init(&qc->hold_lock);
	bio_list_init(&qc->held);
	atomic_set(&qc->inflight, 0);
	init_waitqueue_head(&qc->drained);
	INIT_DELAYED_WORK(&qc->deadline_work, quiesce_deadline);
	qc->state = QUIESCE_THAWED;
	ti->private = qc;

	path = dm_shift_arg(&as);
	r = kstrtoull(dm_shift_arg(&as), 10, &start);
	if (r || start != (sector_t)start) {
		ti->error = "Invalid device offset";
		r = -EINVAL;
		goto bad;
	}
	qc->start = start;

	r = dm_get_device(ti, path, dm_table_get_mode(ti->table), &qc->dev);
	if (r) {
		ti->error = "Device lookup failed";
		goto bad;
	}

	/* Reclaim-safe: thawing must not wait for memory that writeback frees. */
	qc->wq = alloc_workqueue("kdmquiesced", WQ_MEM_RECLAIM, 0);
	if (!qc->wq) {
		ti->error = "Cannot allocate workqueue";
		r = -ENOMEM;
		goto bad;
	}

	qc->self = dm_disk(dm_table_get_md(ti->table))->part0;

	ti->num_flush_bios = 1;
	ti->num_discard_bios = 1;
	ti->num_secure_erase_bios = 1;
	ti->num_write_zeroes_bios = 1;
#ifdef QUIESCE_HAVE_SUBMIT_BIO_REMAP
	ti->accounts_remapped_io = true;
#endif
	return 0;

bad:
	quiesce_dtr(ti);
	return r;
}

static struct target_type quiesce_target = {
	.name = "quiesce",
	.version = {1, 0, 0},
	.features = DM_TARGET_SINGLETON,
	.module = THIS_MODULE,
	.ctr = quiesce_ctr,
	.dtr = quiesce_dtr,
	.map = quiesce_map,
	.end_io = quiesce_end_io,
	.presuspend = quiesce_presuspend,
	.presuspend_undo = quiesce_resume,
	.resume = quiesce_resume,
	.status = quiesce_status,
	.message = quiesce_message,
	.iterate_devices = quiesce_iterate_devices,
};

static int __init dm_quiesce_init(void)
{
	int r = dm_register_target(&quiesce_target);

	if (r < 0)
		DMERR("register failed %d", r);
	return r;
}

static void __exit dm_quiesce_exit(void)
{
	dm_unregister_target(&quiesce_target);
}

module_init(dm_quiesce_init);
module_exit(dm_quiesce_exit);

MODULE_DESCRIPTION(DM_NAME " pass-through target with a deadline-bound freeze");
MODULE_AUTHOR("vaultvol developers");
MODULE_LICENSE("GPL");
