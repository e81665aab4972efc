/*
 * log.h - logging with a per-daemon tag.
 *
 * Every line starts with the daemon name given to log_init().  Lines go to
 * stderr (the journal under systemd, the terminal in the foreground).
 * fatal()/fatalx() are for setup failures and broken invariants of our own
 * process only: nothing a client, a remote server or another daemon sends
 * may reach them.
 */
#ifndef RAMPART_LOG_H
#define RAMPART_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_WARN = 0, LOG_LVL_INFO = 1, LOG_LVL_DEBUG = 2 };

void	log_init(const char *name, int level);
void	log_setlevel(int);
int	log_getlevel(void);
#define log_debug_on()	(log_getlevel() >= LOG_LVL_DEBUG)

void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
