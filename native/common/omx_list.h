/*
 * omx_list.h - intrusive circular doubly-linked lists.
 *
 * Recipe: embed a struct omx_list in each element, omx_list_init() the head,
 * omx_list_add_tail() to enqueue, omx_list_first_entry() to look at the
 * oldest, omx_list_del() to remove; iterate with omx_list_for_each_safe()
 * when the body may delete.  Not thread-safe: the owner's lock covers it.
 */
#ifndef OMX_LIST_H
#define OMX_LIST_H

#include <stddef.h>

struct omx_list {
	struct omx_list *next, *prev;
};

#define omx_container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

static inline void omx_list_init(struct omx_list *l) { l->next = l->prev = l; }
static inline int omx_list_empty(const struct omx_list *l) { return l->next == l; }

static inline void omx_list__insert(struct omx_list *e, struct omx_list *prev, struct omx_list *next)
{
	next->prev = e;
	e->next = next;
	e->prev = prev;
	prev->next = e;
}
static inline void omx_list_add_tail(struct omx_list *e, struct omx_list *head)
{
	omx_list__insert(e, head->prev, head);
}
static inline void omx_list_add_head(struct omx_list *e, struct omx_list *head)
{
	omx_list__insert(e, head, head->next);
}
/* Insert e before pos (keeps order when walking a sorted list). */
static inline void omx_list_add_before(struct omx_list *e, struct omx_list *pos)
{
	omx_list__insert(e, pos->prev, pos);
}
static inline void omx_list_del(struct omx_list *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->next = e->prev = e;
}

#define omx_list_entry(ptr, type, member) omx_container_of(ptr, type, member)
#define omx_list_first_entry(head, type, member) omx_list_entry((head)->next, type, member)

#define omx_list_for_each(pos, head) \
	for (pos = (head)->next; pos != (head); pos = pos->next)
#define omx_list_for_each_safe(pos, tmp, head) \
	for (pos = (head)->next, tmp = pos->next; pos != (head); pos = tmp, tmp = pos->next)

#endif /* OMX_LIST_H */
