package bot

import (
	"context"
	"testing"

	"gridbot/bot/telegramtest"
)

// TestMembers: getChatMember decides who is in a group: its creator,
// admins, members and whoever wrote there; not a stranger; a refusal
// (400) means no; a 5xx is an error, for the caller to answer "try again".
func TestMembers(t *testing.T) {
	s := telegramtest.New(telegramtest.WithReporter(t))
	defer s.Close()
	owner := telegramtest.User{ID: 1, FirstName: "Owner"}
	admin := telegramtest.User{ID: 2, FirstName: "Admin"}
	s.SetAdmins(village.ID, owner, admin)
	s.AddMembers(village.ID, telegramtest.User{ID: 3, FirstName: "Member"})
	s.SendMessage(village, telegramtest.User{ID: 4, FirstName: "Writer"}, "大家好")
	m := NewMembers(newAPI(t, s))
	ctx := context.Background()
	for user, want := range map[int64]bool{1: true, 2: true, 3: true, 4: true, 5: false} {
		if got, err := m.IsMember(ctx, village.ID, user); err != nil || got != want {
			t.Errorf("IsMember(%d) = %v, %v; want %v", user, got, err, want)
		}
	}
	s.Fail("getChatMember", telegramtest.BadRequest("Bad Request: PARTICIPANT_ID_INVALID"))
	if got, err := m.IsMember(ctx, village.ID, 3); err != nil || got {
		t.Errorf("IsMember after a 400 = %v, %v; want false, nil", got, err)
	}
	s.Fail("getChatMember", telegramtest.ServerError(502))
	if _, err := m.IsMember(ctx, village.ID, 3); err == nil {
		t.Error("IsMember after a 502: no error")
	}
}
