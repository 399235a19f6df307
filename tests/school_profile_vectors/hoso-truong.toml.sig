{
 "format": "hoso-school-profile-signature",
 "key": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=",
 "serial": 3,
 "signature": "7GfR9dXpZGApIuWTZ78Z9AM9FMLIaKfBlHzWgd7kOPNj9akHZNS2SDkljD7PFEdxtTbKr0NI9uLFj/wQgezDAQ==",
 "signed_at": "2026-11-30T00:53:20+00:00",
 "version": 1
}
