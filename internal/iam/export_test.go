package iam

// SetBcryptCost changes the bcrypt work factor for a test and returns a function restoring it.
// Tests that use it must not run in parallel with others.
func SetBcryptCost(c int) (restore func()) {
	old := bcryptCost
	bcryptCost = c
	return func() { bcryptCost = old }
}
