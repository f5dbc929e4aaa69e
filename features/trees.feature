@trees
Feature: Instance trees and state inheritance
  An instance may request children: they form one tree with their root, owned
  by the root's person. A child of a stopped or destroyed root takes the
  root's state; destroying the root destroys the whole tree, and every
  partition is freed once the nodes have wiped them.

  Background:
    Given a person "alice"
    And a software release "hello"
    And a computer "COMP-1" of "alice" with 4 partitions
    And "alice" supplies "hello" on "COMP-1"
    And "alice" requests "root" of "hello"
    And instance "root" requests "db" of "hello"
    And instance "root" requests "cache" of "hello"
    And the nodes converge within 10 minutes

  Scenario: Children belong to their root's tree and run
    Then "db" belongs to the tree of "root"
    And "cache" belongs to the tree of "root"
    And "db" is reported started
    And "cache" is reported started
    And 1 partition of "COMP-1" is free

  Scenario: A child requests a grandchild in the same tree
    When instance "db" requests "db-replica" of "hello"
    Then it succeeds
    And "db-replica" belongs to the tree of "root"

  Scenario: Children of a stopped root stop, and start again with it
    When "alice" stops "root"
    Then "db" is requested stopped
    And "cache" is requested stopped
    When the nodes converge within 10 minutes
    Then "root" is reported stopped
    And "db" is reported stopped
    And node "COMP-1" does not run "db"
    When "alice" starts "root"
    And the nodes converge within 10 minutes
    Then "db" is reported started
    And node "COMP-1" runs "db"
    And node "COMP-1" runs "cache"

  Scenario: A child asked started under a stopped root stays stopped
    Given "alice" stops "root"
    When instance "root" requests "db" of "hello" with:
      | state | started |
    Then it succeeds
    And "db" is requested stopped

  @determinism
  Scenario: Destroying the root destroys its tree and frees every partition
    When "alice" destroys "root"
    Then "db" is requested destroyed
    And "cache" is requested destroyed
    When the nodes converge within 15 minutes
    Then 4 partitions of "COMP-1" are free
    And "root" is destroyed
    And "db" is destroyed
    And node "COMP-1" holds nothing

  Scenario: A destroyed root's title is requested again as a new instance
    Given "alice" destroys "root"
    And the nodes converge within 15 minutes
    When "alice" requests "root" of "hello"
    Then it succeeds
    And "root" has a new guid
    And "root" is allocated on "COMP-1"

  Scenario: A bang processes the whole tree again
    When instance "db" bangs "db"
    Then it succeeds
    When the nodes converge within 5 minutes
    Then node "COMP-1" configured 3 partitions because "changed"
