/*
 * dataform.h - XEP-0004 data forms: reading the fields of a submitted
 * form, building the fields of a form a daemon sends, and parsing the
 * field types every form uses (boolean, a bounded number, a list-single
 * choice, a bounded text).
 *
 * Called by mucd (room configuration, registration, voice requests) and
 * pepd (node configuration, publish-options).  Nothing here knows a
 * particular FORM_TYPE: the daemons keep their field tables and apply
 * each field themselves.  Every value read is length-checked; a form
 * from a peer can make a function fail, never abort.
 */
#ifndef RAMPART_DATAFORM_H
#define RAMPART_DATAFORM_H

#include <stddef.h>

struct xnode;

#define DATAFORM_NS	"jabber:x:data"

/* Reading a form.  Fields are <field var=...> children of the <x/>. */
/* The first field named `var`, or NULL. */
const struct xnode *dataform_find(const struct xnode *x, const char *var);
/* The first value of field `f`, "" if it has none (XEP-0004 3.2: an
 * empty text field may carry no <value/>); caller frees; NULL: no memory. */
char	*dataform_field_value(const struct xnode *f);
/* The first value of field `var` copied into buf; NULL if the field or
 * its value is missing or the value does not fit in `len`. */
const char *dataform_value(const struct xnode *x, const char *var,
	    char *buf, size_t len);
/* Calls `each` on every value of field `var` in order; stops at the
 * first -1 from `each`.  0, or -1 (`each` refused, or no memory).  A
 * missing field has no values: 0 without a call. */
int	dataform_values(const struct xnode *x, const char *var,
	    int (*each)(const char *value, void *arg), void *arg);
/* Calls `each` with the var and first value of every field but
 * FORM_TYPE (XEP-0068: it names the form, it is no setting), in order;
 * stops at the first -1.  0, or -1. */
int	dataform_fields(const struct xnode *x,
	    int (*each)(const char *var, const char *value, void *arg),
	    void *arg);
/* 1 if `x` is a jabber:x:data <x/> whose type attribute is `type` and,
 * unless `form_type` is NULL, whose FORM_TYPE field (XEP-0068) has the
 * value `form_type`; 0 otherwise. */
int	dataform_type_is(const struct xnode *x, const char *form_type,
	    const char *type);

/* Building a form.  Both return the new field (NULL: no memory) and
 * skip NULL arguments, so that a chain of calls needs no checks. */
struct xnode *dataform_field(struct xnode *x, const char *var,
	    const char *type, const char *label, const char *value);
/* Adds <option><value/></option> to a list field, one per string of
 * the NULL-terminated `opts` (XEP-0004 3.2).  NULL field: nothing. */
void	dataform_options(struct xnode *field, const char *const *opts);

/* Parsing values: 0 and *out set, or -1 and *out untouched. */
/* XEP-0004 3.3 boolean: "0", "1", "false", "true". */
int	dataform_bool(const char *v, int *out);
/* Decimal digits only (no sign, no space), at most `max`. */
int	dataform_uint(const char *v, unsigned max, unsigned *out);
/* The index of `v` in the NULL-terminated `opts`. */
int	dataform_list(const char *v, const char *const *opts, int *out);
/* Copies `v` to `out` if it has at most `max` bytes (out holds max + 1). */
int	dataform_text(const char *v, char *out, size_t max);

#endif
