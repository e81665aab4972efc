/*
 * pepd.c - PEP (XEP-0163) and pubsub (XEP-0060); implemented by the pubsub issue.
 *
 * Until then pepd is the bare daemon skeleton: it completes the handshake
 * with routerd, enters its sandbox and idles.  routerd routes nothing to it
 * yet, so any frame that arrives is logged and ignored.
 */
#include "daemon.h"
#include "log.h"
#include "pepd.h"

/* The keys routerd sends (store-dir, hosts, options) are accepted and
 * unused until the daemon is implemented. */
static int
pepd_configure(const char *key, int argc, const char **argv)
{
	return 0;
}

static void
pepd_dispatch(struct link *l, struct frame *f)
{
	log_debug("ignoring %s frame", frame_type_name(f->hdr.type));
	if (f->fd != -1)
		close(f->fd);
}

static const struct daemon_ops pepd_ops = {
	.name = "pepd",
	.configure = pepd_configure,
	.dispatch = pepd_dispatch,
	.policy = &pepd_policy,
};

int
main(int argc, char *argv[])
{
	return daemon_main(argc, argv, &pepd_ops);
}
