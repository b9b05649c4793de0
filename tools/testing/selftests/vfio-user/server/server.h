/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vfio_user_test_server internals.
 *
 * Layout:
 *   server/main.c            CLI, listening socket, poll loop
 *   server/conn.c            one client connection: framing, fds, send queue,
 *                            reply delay/reorder
 *   server/proto.c           command decoding and validation, replies
 *   server/hostile.c         deliberately broken replies, floods (--hostile)
 *   server/fuzz.c            seeded frame fuzzer (--fuzz)
 *   server/device.c          regions, BAR0 registers, BAR4, reset
 *   server/config.c          PCI config space
 *   server/irq.c             interrupts (SET_IRQS, raising)
 *   server/dma.c             DMA map table
 *   server/engine.c          the DMA engine (BAR0 0x40..0x7f)
 *   server/json.c            minimal JSON validation for VERSION
 */
#ifndef VTS_SERVER_H
#define VTS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/vfio.h>
#include <linux/vfio_user.h>

#include "test_device.h"

#define VTS_HDR_SIZE	sizeof(struct vfio_user_header)
/* Largest message either way: a 1 MiB REGION_WRITE/READ plus its headers. */
#define VTS_MAX_MSG_SIZE	(VTS_HDR_SIZE + sizeof(struct vfio_user_region_access) + \
				 TDEV_MAX_DATA_XFER)
/* fds accepted in one message; more than we advertise so that a client
 * exceeding max_msg_fds gets EINVAL rather than silently lost fds. */
#define VTS_RX_MAX_FDS	16
/* fds sent with one message at most: more than any client takes (the
 * vfio_user driver takes 8), so that "too many" can be too many. */
#define VTS_TX_MAX_FDS	12
/* Largest --caps string, so that the VERSION reply always fits. */
#define VTS_MAX_CAPS_LEN	65536

enum vts_hostile_mode {
	VTS_HOSTILE_NONE,
	VTS_HOSTILE_GARBAGE,
	VTS_HOSTILE_SHORT_CLOSE,
	VTS_HOSTILE_HUGE_SIZE,
	VTS_HOSTILE_UNKNOWN_ID,
	VTS_HOSTILE_DUPLICATE,
	VTS_HOSTILE_WRONG_CMD,
	VTS_HOSTILE_NO_REPLY,
	VTS_HOSTILE_FDS,
	VTS_HOSTILE_MID_FRAME_CLOSE,
	VTS_HOSTILE_FLOOD,
	VTS_HOSTILE_EXIT,
	VTS_HOSTILE_UNSOLICITED,
	VTS_HOSTILE_ERROR_FD,
	VTS_HOSTILE_TWO_FDS,
	VTS_HOSTILE_FD_OVERSIZE,
	VTS_HOSTILE_FD_EOF,
	VTS_HOSTILE_DRIP,
	VTS_HOSTILE_PRE_REPLY,
	VTS_HOSTILE_STREAM_NOREPLY,
};

struct vts_options {
	const char *sock_path;
	const char *caps;		/* VERSION reply JSON */
	bool version_set;		/* --version given */
	uint16_t major, minor;
	bool not_pci, no_reset, once, verbose;
	bool dma_rogue;			/* engine skips the DMA table checks */
	bool no_dma_fd;			/* DMA_MAP with an fd fails */
	unsigned int reorder;		/* replies held and reversed; 0/1 = off */
	unsigned int delay_ms;		/* every reply, unless delay_reply */
	/* --delay-reply CMD:MS: per command, -1 when not given */
	int delay_reply[VFIO_USER_MAX_COMMAND];
	unsigned int drip_ms;		/* --hostile drip */
	unsigned int pre_reply_ms;	/* --hostile pre-reply */
	enum vts_hostile_mode hostile;
	unsigned int hostile_after;
	unsigned long flood_count;
	int ready_fd;
	bool fuzz;			/* --fuzz given */
	uint64_t fuzz_seed;
	unsigned long fuzz_frames;	/* per-connection budget */
	const char *fuzz_count_file;
	const char *bar2_file;		/* --bar2-file: BAR2's file, not a memfd */
};

extern const struct vts_options *vts_opt;

void vts_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vts_log_msg(const char *dir, const struct vfio_user_header *h,
		 unsigned int nfds);
int vts_cmd_by_name(const char *name);
bool vts_fd_target_is(int fd, const char *want);
uint64_t vts_now_ns(void);

/* ---- device model ---- */

struct vts_dma_map {
	uint64_t iova, size, offset;
	uint32_t flags;
	int fd;			/* -1: message-based DMA only */
	void *va;		/* mapping of fd, NULL without fd */
};

/* The DMA engine's registers and the transfer in flight (test_device.h). */
struct vts_dma_engine {
	uint64_t src, dst;		/* registers, as programmed */
	uint32_t len, ctrl;
	uint32_t status, error, count, mode_used;

	/* the transfer, taken from the registers at GO */
	bool to_guest;			/* BAR2 -> guest: DMA_WRITE */
	uint64_t iova;			/* its guest side */
	uint64_t bar2_off;		/* its BAR2 side */
	uint32_t xlen, done;		/* bytes in all, bytes moved */
	/* message mode: the request awaiting its reply (none if inflight 0) */
	uint32_t inflight;
	uint16_t req_id;
};

struct vts_device {
	int bar2_fd;			/* memfd, sent with GET_REGION_INFO */
	uint8_t *bar2;			/* server's mapping of it */
	uint8_t cfg[TDEV_CONFIG_SIZE];
	uint8_t cfg_wmask[TDEV_CONFIG_SIZE];
	uint8_t msix_table[TDEV_MSIX_COUNT * 16];
	uint32_t scratch, write_count, reset_count, irq_count;
	uint32_t bad_fds;		/* TDEV_REG_BAD_FDS */
	uint32_t dma_exec_errno;	/* TDEV_REG_DMA_EXEC_ERRNO */
	/* eventfd per IRQ index and vector, -1 when none is registered */
	int irq_fds[TDEV_NUM_IRQS][TDEV_MSIX_COUNT];
	struct vts_dma_map dma[TDEV_MAX_DMA_MAPS];
	unsigned int nr_dma;
	struct vts_dma_engine eng;
};

int vts_device_init(struct vts_device *d);
void vts_device_fini(struct vts_device *d);
void vts_device_reset(struct vts_device *d);
uint64_t vts_region_size(uint32_t index);
uint32_t vts_region_flags(uint32_t index);
int vts_region_access(struct vts_device *d, uint32_t index, uint64_t offset,
		      void *buf, uint32_t count, bool write);

void vts_config_reset(struct vts_device *d);
void vts_config_access(struct vts_device *d, uint64_t offset, void *buf,
		       uint32_t count, bool write);

void vts_irq_init(struct vts_device *d);
void vts_irq_fini(struct vts_device *d);
uint32_t vts_irq_count(uint32_t index);
uint32_t vts_irq_info_flags(uint32_t index);
void vts_irq_raise(struct vts_device *d, uint32_t value);
int vts_irq_set(struct vts_device *d, const struct vfio_user_irq_set *s,
		const uint8_t *bools, int *fds, unsigned int nfds);

void vts_dma_fini(struct vts_device *d);
int vts_dma_map(struct vts_device *d, const struct vfio_user_dma_map *m, int *fd);
int vts_dma_unmap(struct vts_device *d, const struct vfio_user_dma_unmap *u);
const struct vts_dma_map *vts_dma_find(const struct vts_device *d, uint64_t iova,
				       uint64_t len, uint32_t need);

void vts_engine_setup_signals(void);
void vts_engine_reset(struct vts_device *d);
uint32_t vts_engine_read(const struct vts_device *d, uint64_t reg);
void vts_engine_write(struct vts_device *d, uint64_t reg, uint32_t v);

bool vts_json_caps_valid(const char *json);
bool vts_json_caps_u64(const char *json, const char *key, uint64_t *val);

/* ---- connection ---- */

struct vts_txmsg;
struct vts_conn_ops;

/* --fuzz state of one connection (server/fuzz.c). */
struct vts_fuzz_state {
	bool seeded;			/* the PRNGs and the plan are set */
	bool active;			/* DMA_MAP answered: fuzzing */
	unsigned int bind_replies;	/* replies sent before DMA_MAP */
	int bind_at;			/* the one to mangle, or -1 */
	const char *bind;		/* how it was mangled, for the report */
	bool done;			/* budget spent: non-fatal frames only */
	bool fatal_sent;		/* the connection-ending event went out */
	uint64_t gen;			/* PRNG of the generated frames */
	uint64_t rep;			/* PRNG of the reply mutations */
	unsigned long fatal_at;		/* generated frame of the fatal event */
	int fatal_reply;		/* fatal kind waiting for a reply, or -1 */
	const char *end;		/* the fatal event, for the report */
	unsigned long frames;		/* every frame sent while fuzzing */
	unsigned long generated;	/* of which generated */
	unsigned long replies;		/* of which replies */
	unsigned long mutated;		/* of which mangled replies */
	unsigned long touches;		/* zero-copy window accesses */
	unsigned long fd_frames;	/* frames sent with fds attached */
	unsigned long fds_sent;		/* the fds they carried */
	uint8_t *buf;			/* batch under construction */
	size_t buf_len;
};

struct vts_conn {
	int fd;
	/* the parts plugged in, NULL-terminated (struct vts_conn_ops) */
	const struct vts_conn_ops *const *ops;
	struct vts_device dev;
	bool negotiated;		/* VERSION done */
	uint32_t max_xfer;		/* client's max_data_xfer_size */
	bool dead;			/* close it at the next loop turn */
	bool exit_server;		/* --hostile exit fired */

	/* receive state: one message at a time, never past its end */
	uint8_t *rxbuf;			/* VTS_MAX_MSG_SIZE bytes, shared */
	size_t rx_have, rx_need;
	int rx_fds[VTS_RX_MAX_FDS];
	unsigned int rx_nfds;
	bool rx_fds_lost;		/* MSG_CTRUNC or too many fds */

	/* send state */
	struct vts_txmsg *txq_head, **txq_tail;
	size_t tx_bytes;		/* bytes queued, for back-pressure */
	struct vts_txmsg *delayed;	/* --delay-*: by release time */
	struct vts_txmsg *held;		/* --reorder: stack of held replies */
	unsigned int nheld;
	uint64_t held_deadline;
	uint8_t *reply;			/* VTS_MAX_MSG_SIZE scratch for replies */
	uint16_t req_id;		/* next id for a request of ours */

	/* --hostile state */
	unsigned int cmds_seen;		/* commands that wanted a reply */
	bool hostile_done;
	bool hostile_now;		/* this command is the trigger */
	bool mute;			/* send nothing more */
	bool rx_mute;			/* read nothing more */
	bool keep_device;		/* leave dev to the process's exit */
	bool stream;			/* stream-noreply is sending */
	unsigned int stream_inflight;	/* its requests not yet answered */
	unsigned long flood_left;
	uint16_t last_id;
	uint8_t ids_seen[65536 / 8];

	struct vts_fuzz_state fz;
};

/**
 * struct vts_conn_ops - what a part of the server adds to a connection
 *
 * The DMA engine (vts_engine_ops), the hostile modes (vts_hostile_ops) and
 * the fuzzer (vts_fuzz_ops) plug into a connection through one of these;
 * main.c picks, at start-up, the ones its options ask for and the
 * connection calls each hook of each, in that order.  Any hook may be NULL.
 *
 * @wants_send: has it frames to send once the send queue runs empty?
 * @refill: the send queue ran empty and @wants_send said yes: queue them
 *	(only the first part that wants to is asked).
 * @on_command: a command that wants a reply arrived, before it is handled;
 *	false drops it unhandled (the connection is ending).
 * @send_reply: send @msg, the reply to that command (@fd: the fd it
 *	carries, or -1), its own way; false leaves it to the next part and in
 *	the end to vts_conn_emit().
 * @replied: the reply to command @h went out; @err is its error or 0.
 * @on_reply: a reply from the client, to a request of ours.
 * @pump: after every message the connection handled.
 * @fini: the connection ends.
 */
struct vts_conn_ops {
	bool (*wants_send)(const struct vts_conn *c);
	void (*refill)(struct vts_conn *c);
	bool (*on_command)(struct vts_conn *c, const struct vfio_user_header *h);
	bool (*send_reply)(struct vts_conn *c, uint8_t *msg, size_t len, int fd);
	void (*replied)(struct vts_conn *c, const struct vfio_user_header *h,
			int err);
	void (*on_reply)(struct vts_conn *c, const struct vfio_user_header *h,
			 const void *payload, size_t len);
	void (*pump)(struct vts_conn *c);
	void (*fini)(struct vts_conn *c);
};

extern const struct vts_conn_ops vts_engine_ops;
extern const struct vts_conn_ops vts_hostile_ops;
extern const struct vts_conn_ops vts_fuzz_ops;

void vts_conn_init(struct vts_conn *c, int fd, uint8_t *rxbuf, uint8_t *reply,
		   const struct vts_conn_ops *const *ops);
void vts_conn_fini(struct vts_conn *c);
short vts_conn_poll_events(const struct vts_conn *c);
int64_t vts_conn_timeout_ns(const struct vts_conn *c);
void vts_conn_on_readable(struct vts_conn *c);
void vts_conn_on_writable(struct vts_conn *c);
void vts_conn_on_timer(struct vts_conn *c);

#define VTS_EMIT_CLOSE_AFTER	(1u << 0)	/* close once this is sent */
/* A request of ours, not a reply: --delay-* and --reorder leave it alone. */
#define VTS_EMIT_REQUEST		(1u << 1)
void vts_conn_emit(struct vts_conn *c, const void *msg, size_t len,
		   const int *fds, unsigned int nfds, unsigned int flags);
void vts_conn_emit_at(struct vts_conn *c, const void *msg, size_t len,
		      const int *fds, unsigned int nfds, uint64_t not_before);
void vts_conn_emit_drip(struct vts_conn *c, const void *msg, size_t len,
			const int *fds, unsigned int nfds, unsigned int ms);
bool vts_conn_txq_empty(const struct vts_conn *c);
uint16_t vts_conn_unused_id(const struct vts_conn *c);

/* For proto.c: the plugged-in parts' hooks (struct vts_conn_ops). */
bool vts_conn_on_command(struct vts_conn *c, const struct vfio_user_header *h);
void vts_conn_send_reply(struct vts_conn *c, uint8_t *msg, size_t len, int fd);
void vts_conn_replied(struct vts_conn *c, const struct vfio_user_header *h,
		      int err);
void vts_conn_on_reply(struct vts_conn *c, const struct vfio_user_header *h,
		       const void *payload, size_t len);
void vts_conn_pump(struct vts_conn *c);

void vts_proto_handle(struct vts_conn *c, uint8_t *msg, size_t size,
		      int *fds, unsigned int nfds);
int vts_engine_guarded_copy(void *dst, const void *src, size_t len);

#endif /* VTS_SERVER_H */
