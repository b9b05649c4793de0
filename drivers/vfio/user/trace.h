/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vfio_user trace events: every frame sent and received.
 *
 *   echo 1 > /sys/kernel/tracing/events/vfio_user/enable
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM vfio_user

#if !defined(VFIO_USER_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define VFIO_USER_TRACE_H

#include <linux/tracepoint.h>
#include "compat.h"
#include <linux/vfio_user.h>

DECLARE_EVENT_CLASS(vfio_user_frame,
		    TP_PROTO(const char *name, const struct vfio_user_header *hdr),
		    TP_ARGS(name, hdr),
		    TP_STRUCT__entry(__string(name, name)
				     __field(u16, msg_id)
				     __field(u16, command)
				     __field(u32, msg_size)
				     __field(u32, flags)
				     __field(u32, error_reply)),
		    TP_fast_assign(vfio_user_assign_str(name);
				   __entry->msg_id = hdr->msg_id;
				   __entry->command = hdr->command;
				   __entry->msg_size = hdr->msg_size;
				   __entry->flags = hdr->flags;
				   __entry->error_reply = hdr->error_reply;),
		    TP_printk("%s id=%u cmd=%u size=%u flags=0x%x error=%u",
			      __get_str(name), __entry->msg_id, __entry->command,
			      __entry->msg_size, __entry->flags,
			      __entry->error_reply)
);

DEFINE_EVENT(vfio_user_frame, vfio_user_send,
	     TP_PROTO(const char *name, const struct vfio_user_header *hdr),
	     TP_ARGS(name, hdr)
);

DEFINE_EVENT(vfio_user_frame, vfio_user_recv,
	     TP_PROTO(const char *name, const struct vfio_user_header *hdr),
	     TP_ARGS(name, hdr)
);

#endif /* VFIO_USER_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
