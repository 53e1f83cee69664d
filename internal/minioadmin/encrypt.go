package minioadmin

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/secure-io/sio-go"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/pbkdf2"
)

// The admin API encrypts request and reply bodies that carry secrets. The format is
//
//	salt (32 bytes) | algorithm id (1 byte) | nonce (8 bytes) | sio stream ciphertext
//
// where the 32-byte key is derived from the admin identity's secret key and the salt. The id names
// the key derivation and the AEAD of the stream.
const (
	idArgon2idAESGCM           byte = 0x00
	idArgon2idChaCha20Poly1305 byte = 0x01
	idPBKDF2AESGCM             byte = 0x02

	saltSize  = 32
	nonceSize = 8 // sio: the AEAD's 12-byte nonce minus its 4-byte sequence counter

	argon2Time    = 1
	argon2Memory  = 64 * 1024
	argon2Threads = 4
	pbkdf2Rounds  = 8192
	keySize       = 32
)

var errMalformed = errors.New("malformed encrypted admin payload")

// argon2Bytes is what one Argon2id derivation allocates (argon2Memory KiB), and frees when done.
const argon2Bytes = argon2Memory << 10

// KeyDerivations bounds how many Argon2id derivations run at once in the process, and so the memory
// they take: argon2Bytes each. A MinIO server that is not in FIPS mode seals every admin reply
// (add, list and info service account) with Argon2id; without a bound, every reconcile decrypting
// one at the same time took 64 MiB, and 16 workers took a gigabyte. Clients are built per
// reconcile, so the bound must be shared: the provider factory holds one for the process.
// madmin-go, MinIO's own client, serialises its derivations behind one process-wide mutex too.
type KeyDerivations struct{ slots chan struct{} }

// NewKeyDerivations allows n derivations at once (at least one).
func NewKeyDerivations(n int) *KeyDerivations {
	return &KeyDerivations{slots: make(chan struct{}, max(n, 1))}
}

// KeyDerivationsFor sizes the bound for a process whose memory limit is limit bytes (0: unknown):
// a quarter of the limit, between one and eight derivations. One is also the answer for an
// unknown limit; on two cores a second derivation would not finish sooner anyway (Argon2id here
// runs on four threads).
func KeyDerivationsFor(limit uint64) *KeyDerivations {
	return NewKeyDerivations(int(min(max(limit/4/argon2Bytes, 1), 8)))
}

// Slots is how many derivations may run at once.
func (k *KeyDerivations) Slots() int { return cap(k.slots) }

// defaultKeyDerivations bounds the clients built without a bound of their own (tests, tools).
var defaultKeyDerivations = NewKeyDerivations(1)

// acquire waits for a free slot; release gives it back.
func (k *KeyDerivations) acquire(ctx context.Context) error {
	select {
	case k.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (k *KeyDerivations) release() { <-k.slots }

// encrypt seals data for the server with PBKDF2 and AES-256-GCM (id 0x02), which the server
// accepts whatever its own mode (madmin-go's DecryptData takes all three ids) and which needs
// none of Argon2id's 64 MiB. The salt is random per payload, as with Argon2id.
func encrypt(password string, data []byte) ([]byte, error) {
	var salt [saltSize]byte
	var nonce [nonceSize]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return nil, err
	}
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	return seal(context.Background(), defaultKeyDerivations, password, idPBKDF2AESGCM, salt[:], nonce[:], data)
}

func seal(ctx context.Context, k *KeyDerivations, password string, id byte, salt, nonce, data []byte) ([]byte, error) {
	stream, err := streamFor(ctx, k, password, id, salt)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Write(salt)
	out.WriteByte(id)
	out.Write(nonce)
	w := stream.EncryptWriter(&out, nonce, nil)
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// decrypt opens a payload sealed with any of the three algorithms; an Argon2id derivation waits for
// a slot of k.
func decrypt(ctx context.Context, k *KeyDerivations, password string, payload []byte) ([]byte, error) {
	if len(payload) < saltSize+1+nonceSize {
		return nil, errMalformed
	}
	salt, id, nonce := payload[:saltSize], payload[saltSize], payload[saltSize+1:saltSize+1+nonceSize]
	stream, err := streamFor(ctx, k, password, id, salt)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	w := stream.DecryptWriter(&out, nonce, nil)
	if _, err := w.Write(payload[saltSize+1+nonceSize:]); err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformed, err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformed, err)
	}
	return out.Bytes(), nil
}

func streamFor(ctx context.Context, k *KeyDerivations, password string, id byte, salt []byte) (*sio.Stream, error) {
	switch id {
	case idArgon2idAESGCM, idArgon2idChaCha20Poly1305:
		if err := k.acquire(ctx); err != nil {
			return nil, err
		}
		key := argon2.IDKey([]byte(password), salt, argon2Time, argon2Memory, argon2Threads, keySize)
		// The derivation's 64 MiB are garbage now, but the collector would only notice them
		// after a few more derivations had allocated theirs (measured: 30 backends created at
		// once peaked at 200 MiB of heap with one derivation at a time), and the runtime would
		// keep the freed pages until it neared the memory limit. Collecting, and giving the pages
		// back, before the slot is given back keeps at most Slots() of them in memory; a cycle
		// over the manager's few tens of MiB of live heap costs far less than the derivation.
		debug.FreeOSMemory()
		k.release()
		if id == idArgon2idAESGCM {
			return sio.AES_256_GCM.Stream(key)
		}
		return sio.ChaCha20Poly1305.Stream(key)
	case idPBKDF2AESGCM:
		return sio.AES_256_GCM.Stream(pbkdf2.Key([]byte(password), salt, pbkdf2Rounds, keySize, sha256.New))
	default:
		return nil, fmt.Errorf("%w: unknown algorithm id %#x", errMalformed, id)
	}
}
