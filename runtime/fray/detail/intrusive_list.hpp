// The runtime's intrusive lists. Nodes carry their own links, so listing
// a task, an actor or a ticket never allocates and removal is O(1).
//  - IntrusiveList: doubly linked, for what must leave from the middle
//    (live tasks, in-flight actor calls, actors, the admission line).
//  - WorkQueue: a FIFO of Work through Work::next_work, for queues that are
//    only pushed at the back and popped at the front.
// Neither locks: the owner of a list guards it.
#pragma once

#include <cstddef>

#include "fray/executor.hpp"

namespace fray::detail {

// A node of lists tagged `Tag` derives from ListHook<Tag> (one base per
// list it can be in).
template <class Tag>
struct ListHook {
  ListHook* prev = nullptr;
  ListHook* next = nullptr;
};

template <class T, class Tag>
class IntrusiveList {
  using Hook = ListHook<Tag>;

 public:
  IntrusiveList() = default;
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;

  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }
  T* front() const noexcept { return head_ == nullptr ? nullptr : owner(head_); }

  void push_back(T& item) noexcept {
    Hook& hook = item;
    hook.next = nullptr;
    hook.prev = tail_;
    if (tail_ != nullptr) {
      tail_->next = &hook;
    } else {
      head_ = &hook;
    }
    tail_ = &hook;
    ++size_;
  }
  void push_front(T& item) noexcept {
    Hook& hook = item;
    hook.prev = nullptr;
    hook.next = head_;
    if (head_ != nullptr) {
      head_->prev = &hook;
    } else {
      tail_ = &hook;
    }
    head_ = &hook;
    ++size_;
  }
  T* pop_front() noexcept {
    if (head_ == nullptr) return nullptr;
    T* item = owner(head_);
    remove(*item);
    return item;
  }
  // Only meaningful if `item` is in this list or in no list with this tag:
  // a hook in another list of the same tag has links too.
  bool contains(const T& item) const noexcept {
    const Hook& hook = item;
    return hook.prev != nullptr || head_ == &hook;
  }
  // False if `item` was not in this list.
  bool remove(T& item) noexcept {
    Hook& hook = item;
    if (!contains(item)) return false;
    if (hook.prev != nullptr) {
      hook.prev->next = hook.next;
    } else {
      head_ = hook.next;
    }
    if (hook.next != nullptr) {
      hook.next->prev = hook.prev;
    } else {
      tail_ = hook.prev;
    }
    hook.prev = hook.next = nullptr;
    --size_;
    return true;
  }
  // Calls f(T&) for each item; f may remove the item it is given.
  template <class F>
  void for_each(F&& f) {
    for (Hook* hook = head_; hook != nullptr;) {
      Hook* next = hook->next;
      f(*owner(hook));
      hook = next;
    }
  }

 private:
  static T* owner(Hook* hook) noexcept { return static_cast<T*>(hook); }

  Hook* head_ = nullptr;
  Hook* tail_ = nullptr;
  std::size_t size_ = 0;
};

class WorkQueue {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  Work* front() const noexcept { return head_; }
  void push_back(Work* work) noexcept {
    work->next_work = nullptr;
    if (tail_ != nullptr) {
      tail_->next_work = work;
    } else {
      head_ = work;
    }
    tail_ = work;
  }
  Work* pop_front() noexcept {
    Work* work = head_;
    if (work == nullptr) return nullptr;
    head_ = work->next_work;
    if (head_ == nullptr) tail_ = nullptr;
    return work;
  }

 private:
  Work* head_ = nullptr;
  Work* tail_ = nullptr;
};

}  // namespace fray::detail
